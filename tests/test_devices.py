"""Devices: choosing one, and every tensor following the backbone there.

There is no GPU here, so the plumbing is tested with PyTorch's ``meta`` device (tensors
with shapes and no data): a tensor left on the CPU meeting a meta tensor raises "Tensor
on device cpu is not on the expected device meta", just as a CPU tensor meeting a CUDA
one would. Whatever must produce numbers (accuracies, training) is tested with an
explicit ``torch.device("cpu")``, which must give exactly the default results.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fewshot_utils import devices
from fewshot_utils.fewshot.benchmark import run_benchmark
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import episode_features, evaluate
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune
from fewshot_utils.fewshot.prototypes import PrototypeClassifier, prototypes
from fewshot_utils.models.checkpoints import load_backbone, save_checkpoint
from fewshot_utils.models.conv4 import Conv4, Preprocessing, embed
from fewshot_utils.models.features import split_features
from fewshot_utils.training.siamese import SiameseConfig, pretrain_siamese
from fewshot_utils.training.supervised import PretrainingConfig, pretrain
from tests.test_pretraining import tiny_split

META = torch.device("meta")
PACKAGE = Path(__file__).resolve().parents[1] / "fewshot_utils"


@pytest.fixture(autouse=True)
def default_device_restored():
    yield
    devices.set_default_device(None)


def toy_features(classes: int = 6, per_class: int = 8, dim: int = 16):
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.arange(classes).repeat_interleave(per_class)
    features = centres[labels] + 0.5 * torch.randn(len(labels), dim, generator=generator)
    return features, labels


# ----------------------------------------------------------------------------
# Choosing a device
# ----------------------------------------------------------------------------


def test_auto_prefers_cuda_then_mps_then_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("cuda")
    assert devices.resolve_device(None) == torch.device("cuda")


def test_auto_says_which_in_one_line(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.choose_device("auto") == torch.device("cpu")
    assert capsys.readouterr().out == "Device: the CPU (auto: no CUDA GPU or Apple MPS found)\n"
    devices.choose_device("cpu")
    assert capsys.readouterr().out == "Device: the CPU\n"
    devices.choose_device("auto", announce=False)
    assert capsys.readouterr().out == ""


def test_a_missing_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' was asked for, but PyTorch sees no CUDA GPU"):
        devices.resolve_device("cuda")
    with pytest.raises(ValueError, match="Apple's MPS is not available here"):
        devices.resolve_device("mps")
    with pytest.raises(ValueError, match="unknown device 'gpu': use one of auto, cpu, cuda, mps"):
        devices.resolve_device("gpu")


def test_the_default_device_is_the_cpu_until_set():
    assert devices.default_device() == torch.device("cpu")
    devices.set_default_device("meta")
    assert devices.default_device() == META and devices.as_device(None) == META
    assert devices.as_device("cpu") == torch.device("cpu")
    devices.set_default_device(None)
    assert devices.default_device() == torch.device("cpu")


def test_no_cuda_calls_in_the_package():
    for path in PACKAGE.rglob("*.py"):
        assert ".cuda()" not in path.read_text(encoding="utf-8"), path


# ----------------------------------------------------------------------------
# Tensors follow the backbone (the meta device stands in for a GPU)
# ----------------------------------------------------------------------------


def test_embed_moves_the_backbone_and_returns_features_there():
    backbone = Conv4(channels=8)
    images = torch.zeros(5, 28, 28, dtype=torch.uint8)  # stays on the CPU
    features = embed(backbone, images, Preprocessing(), batch_size=2, device=META)
    assert features.device == META and features.shape == (5, 8)
    assert devices.module_device(backbone) == META
    # Without device=, embed follows the backbone.
    assert embed(backbone, images, Preprocessing()).device == META
    assert embed(backbone, images[:0], Preprocessing()).device == META


def test_episodes_stay_on_the_cpu_and_gathered_features_follow_the_features():
    features, labels = toy_features()
    episodes = sample_episodes(labels, 3, 2, 2, 4, seed=0)
    assert episodes.support.device.type == "cpu"
    support, query, query_labels = episode_features(features.to(META), episodes)
    assert support.device == query.device == query_labels.device == META
    classifier = PrototypeClassifier().fit(support)
    assert prototypes(support).device == classifier.bias.device == META
    assert classifier.logits(query).device == META


@pytest.mark.parametrize(
    "method",
    [
        FineTuning(init="random", steps=3),
        FineTuning(entropy_weight=0.1, classifier="cosine", learn_scale=True, steps=3),
    ],
    ids=["random-init", "entropy-cosine-learned-scale"],
)
def test_fine_tuning_keeps_classifier_and_optimiser_on_the_features_device(method):
    features, labels = toy_features()
    episodes = sample_episodes(labels, 3, 2, 2, 4, seed=0)
    support, query, query_labels = episode_features(features, episodes)
    # device= moves CPU features there: the random start (drawn on the CPU), W, b, the
    # scale and Adam's moments must all follow, or the first step would raise.
    classifier = fine_tune(
        support, query, method, query_labels=query_labels, record=True, device=META
    )
    assert classifier.weight.device == classifier.bias.device == META
    assert classifier.history.support_loss.device == META
    fitted = method.fit(support.to(META), query.to(META))
    assert fitted.logits(query.to(META)).device == META


def test_evaluate_and_benchmark_on_an_explicit_cpu_match_the_default():
    features, labels = toy_features()
    episodes = sample_episodes(labels, 3, 2, 2, 20, seed=0)
    method = FineTuning(init="random", steps=5)
    default = evaluate(features, episodes, method)
    explicit = evaluate(features, episodes, method, device=torch.device("cpu"))
    assert torch.equal(default.per_episode, explicit.per_episode)
    settings = dict(episodes=10, settings=((3, 1),), methods=["prototype", "finetune-random"])

    def without_times(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    explicit = run_benchmark(features, labels, queries=3, **settings, device="cpu")
    assert without_times(explicit) == without_times(
        run_benchmark(features, labels, queries=3, **settings)
    )


def test_pretraining_on_an_explicit_cpu_is_the_default_run():
    split = tiny_split()
    config = PretrainingConfig(epochs=1, batch_size=16, validation_per_class=2)
    default = pretrain(split, config, progress=False)
    explicit = pretrain(split, config, progress=False, device=torch.device("cpu"))
    assert devices.module_device(explicit.model) == torch.device("cpu")
    for name, value in default.model.state_dict().items():
        assert torch.equal(value, explicit.model.state_dict()[name]), name
    assert default.history[0]["loss"] == explicit.history[0]["loss"]


@pytest.mark.parametrize("way", ["supervised", "siamese"])
def test_pretraining_follows_the_default_device(way):
    devices.set_default_device(META)
    split = tiny_split()
    # The meta device cannot give a number, so the run stops at the first .item() of the
    # first batch: by then the weights, the warped batch and its labels were all on the
    # meta device (a CPU tensor among them would have raised "not on the expected device").
    with pytest.raises(RuntimeError, match=r"Tensor.item\(\) cannot be called on meta tensors"):
        if way == "supervised":
            pretrain(split, PretrainingConfig(epochs=1, batch_size=16), progress=False)
        else:
            pretrain_siamese(split, SiameseConfig(epochs=1, batch_size=8), progress=False)


# ----------------------------------------------------------------------------
# Checkpoints between devices
# ----------------------------------------------------------------------------


def saved_as_if_on_a_gpu(monkeypatch, path: Path, backbone: Conv4) -> Path:
    """A checkpoint whose tensors are tagged ``cuda:0``, as ``torch.save`` writes them on a GPU."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    save_checkpoint(path, backbone, Preprocessing(mean=0.1, std=0.3), meta={"dataset": "toy"})
    monkeypatch.undo()
    return path


def test_a_checkpoint_made_on_a_gpu_loads_here(tmp_path, monkeypatch):
    backbone = Conv4(channels=8)
    path = saved_as_if_on_a_gpu(monkeypatch, tmp_path / "gpu.pt", backbone)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # Read as written, the file wants a GPU: the test really exercises map_location.
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)
    loaded = load_backbone(path)
    assert loaded.device == torch.device("cpu")
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, loaded.backbone.state_dict()[name]), name


def test_a_checkpoint_made_here_loads_onto_another_device(tmp_path):
    backbone, head = Conv4(channels=8), torch.nn.Linear(8, 3)
    path = save_checkpoint(tmp_path / "cpu.pt", backbone, Preprocessing(), head=head)
    loaded = load_backbone(path, device=META)
    assert loaded.device == META and loaded.head.weight.device == META
    devices.set_default_device(META)
    assert load_backbone(path).device == META
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    assert embed(loaded.backbone, images, loaded.preprocessing).device == META


def test_split_features_follow_the_backbone(tmp_path):
    split = tiny_split(classes=3, per_class=4)
    backbone = load_backbone(
        save_checkpoint(tmp_path / "b.pt", Conv4(channels=8), Preprocessing()), device="cpu"
    )
    features = split_features(backbone, split, cache=False, device=META)
    assert features.device == META and features.shape == (12, 8)
    assert backbone.device == META


def test_a_notebook_setup_chooses_the_device_quietly_on_a_cpu(capsys, monkeypatch):
    from fewshot_utils.notebook import find_backbone, setup

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert setup(seed=0, threads=1) == torch.device("cpu")
    assert capsys.readouterr().out == ""  # the committed notebook outputs stay as they are
    assert devices.default_device() == torch.device("cpu")
    # Another device is announced, and the notebook's backbone goes there.
    assert setup(seed=0, threads=1, device="meta") == META
    assert capsys.readouterr().out == "Device: the meta device\n"
    assert find_backbone().device == META


def test_a_notebook_hands_freed_memory_back_after_every_cell(monkeypatch):
    """In a kernel, setup() registers one post-cell callback that runs malloc_trim, so the
    kernel's peak is the largest cell's, not the sum of many cells' leftovers."""
    from IPython.core.interactiveshell import InteractiveShell

    from fewshot_utils import notebook

    calls = []
    monkeypatch.setattr(notebook, "release_freed_memory", lambda: calls.append("trim"))
    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(shell, "run_line_magic", lambda *args: None)  # no inline backend
        notebook.setup(seed=0, threads=1)
        notebook.setup(seed=0, threads=1)  # a notebook run twice registers it once
        hooks = shell.events.callbacks["post_run_cell"]
        assert hooks.count(notebook.release_freed_memory_after_cell) == 1
        shell.run_cell("x = 1 + 1")
        assert calls == ["trim"]
    finally:
        InteractiveShell.clear_instance()
