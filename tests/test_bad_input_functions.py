"""Every bad input a learner can pass to the public functions the notebooks call is a
clear ``ValueError`` (or ``FileNotFoundError``) naming the problem, the value and the fix,
raised before any work starts; odd but valid images are accepted.

The command line's cases are in ``tests/test_bad_input.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import load_image, open_image
from fewshot_utils.data.omniglot import check_zips
from fewshot_utils.fewshot import benchmark as benchmark_module
from fewshot_utils.fewshot.benchmark import run_benchmark
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.predict import predict
from fewshot_utils.models.checkpoints import PretrainedBackbone, load_backbone
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.notebook import setup
from fewshot_utils.storage import save_atomically, write_text_atomically
from fewshot_utils.training.siamese import SiameseConfig
from fewshot_utils.training.supervised import PretrainingConfig

NAN, INF = math.nan, math.inf
LABELS = torch.arange(4).repeat_interleave(20)  # 4 classes of 20 images
FEATURES = torch.rand(80, 8)
EPISODES = sample_episodes(LABELS, 2, 1, 3, 4)


def benchmark(**changes):
    arguments = dict(episodes=3, settings=[(2, 1)], methods=["prototype"], queries=3)
    return run_benchmark(FEATURES, LABELS, **{**arguments, **changes})


#: id -> (call(files), the phrase its error must contain). ``files``: the bad files
#: (``tests/conftest.py``) plus ``support`` and ``backbone``.
CASES = {
    # sample_episodes
    "episodes: ways 1": (lambda f: sample_episodes(LABELS, 1, 1), "ways must be a whole number"),
    "episodes: ways 2.5": (lambda f: sample_episodes(LABELS, 2.5, 1), "got 2.5"),
    "episodes: ways as text": (lambda f: sample_episodes(LABELS, "2", 1), "got '2'"),
    "episodes: ways True": (lambda f: sample_episodes(LABELS, True, 1), "got True"),
    "episodes: shots nan": (lambda f: sample_episodes(LABELS, 2, NAN), "got nan"),
    "episodes: queries -1": (lambda f: sample_episodes(LABELS, 2, 1, -1), "queries must be"),
    "episodes: episodes inf": (lambda f: sample_episodes(LABELS, 2, 1, 3, INF), "got inf"),
    "episodes: episodes 0": (lambda f: sample_episodes(LABELS, 2, 1, 3, 0), "from 1 to 100000"),
    "episodes: seed -1": (lambda f: sample_episodes(LABELS, 2, 1, seed=-1), "seed must be"),
    "episodes: seed 0.5": (lambda f: sample_episodes(LABELS, 2, 1, seed=0.5), "got 0.5"),
    "episodes: more ways than classes": (
        lambda f: sample_episodes(LABELS, 5, 1),
        "5-way episodes need 5 classes, but the split has only 4: ask for at most 4 ways",
    ),
    "episodes: more shots than images": (
        lambda f: sample_episodes(LABELS, 2, 10, 15),
        "ask for shots + queries <= 20",
    ),
    "episodes: float labels": (
        lambda f: sample_episodes(LABELS.float(), 2, 1),
        "labels must be the class numbers",
    ),
    "episodes: labels [I, 1]": (
        lambda f: sample_episodes(LABELS[:, None], 2, 1),
        "labels must be the class numbers",
    ),
    "episodes: no labels": (lambda f: sample_episodes([], 2, 1), "pass split.labels"),
    # FineTuning
    "fine-tuning: steps 2.5": (lambda f: FineTuning(steps=2.5), "steps must be a whole number"),
    "fine-tuning: steps nan": (lambda f: FineTuning(steps=NAN), "got nan"),
    "fine-tuning: steps a million": (lambda f: FineTuning(steps=10**6), "from 0 to 10000"),
    "fine-tuning: lr inf": (lambda f: FineTuning(lr=INF), "lr must be > 0 and <= 10, got inf"),
    "fine-tuning: lr 0": (lambda f: FineTuning(lr=0), "lr must be > 0"),
    "fine-tuning: scale inf": (lambda f: FineTuning(scale=INF), "scale must be > 0"),
    "fine-tuning: scale -1": (lambda f: FineTuning(scale=-1), "got -1"),
    "fine-tuning: λ nan": (lambda f: FineTuning(entropy_weight=NAN), "entropy_weight must be >= 0"),
    "fine-tuning: λ -1": (lambda f: FineTuning(entropy_weight=-1), "entropy_weight must be >= 0"),
    "fine-tuning: λ as text": (lambda f: FineTuning(entropy_weight="0.1"), "got '0.1'"),
    "fine-tuning: learn_scale 'yes'": (
        lambda f: FineTuning(classifier="cosine", learn_scale="yes"),
        "learn_scale must be True or False",
    ),
    "fine-tuning: init unknown": (lambda f: FineTuning(init="zeros"), "init must be one of"),
    # PretrainingConfig and SiameseConfig
    "pretraining: epochs 0": (
        lambda f: PretrainingConfig(epochs=0),
        "epochs must be a whole number from 1 to 1000, got 0",
    ),
    "pretraining: epochs 2.5": (lambda f: PretrainingConfig(epochs=2.5), "got 2.5"),
    "pretraining: epochs nan": (lambda f: PretrainingConfig(epochs=NAN), "got nan"),
    "pretraining: lr nan": (lambda f: PretrainingConfig(lr=NAN), "lr must be > 0"),
    "pretraining: batch size 0": (lambda f: PretrainingConfig(batch_size=0), "batch_size must"),
    "pretraining: seed -1": (lambda f: PretrainingConfig(seed=-1), "seed must be"),
    "pretraining: channels 0": (lambda f: PretrainingConfig(channels=0), "channels must be"),
    "pretraining: validation -1": (
        lambda f: PretrainingConfig(validation_per_class=-1),
        "validation_per_class must be",
    ),
    "pretraining: rotation inf": (lambda f: PretrainingConfig(rotation=INF), "rotation must be"),
    "pretraining: weight decay -1": (
        lambda f: PretrainingConfig(weight_decay=-1),
        "weight_decay must be",
    ),
    "pretraining: label smoothing 1": (
        lambda f: PretrainingConfig(label_smoothing=1.0),
        "label_smoothing must be",
    ),
    "pretraining: augment 'no'": (
        lambda f: PretrainingConfig(augment="no"),
        "augment must be True or False",
    ),
    "siamese: head unknown": (lambda f: SiameseConfig(head="mlp"), "head must be one of"),
    "siamese: epochs 0": (lambda f: SiameseConfig(epochs=0), "epochs must be a whole number"),
    "siamese: positive fraction 2": (
        lambda f: SiameseConfig(positive_fraction=2),
        "positive_fraction must be",
    ),
    "siamese: pairs per epoch 0": (
        lambda f: SiameseConfig(pairs_per_epoch=0),
        "pairs_per_epoch must be",
    ),
    "siamese: batch size 0.5": (lambda f: SiameseConfig(batch_size=0.5), "batch_size must"),
    # evaluate
    "evaluate: features as a list": (
        lambda f: evaluate(FEATURES.tolist(), EPISODES),
        "features must be [I, d]",
    ),
    "evaluate: features [I, d, 1]": (
        lambda f: evaluate(FEATURES[..., None], EPISODES),
        "features must be [I, d]",
    ),
    "evaluate: features with NaN": (
        lambda f: evaluate(torch.full((80, 8), NAN), EPISODES),
        "features contain NaN or infinity",
    ),
    "evaluate: episodes as a list": (
        lambda f: evaluate(FEATURES, [[0, 1]]),
        "episodes must come from sample_episodes",
    ),
    "evaluate: chunk size 0": (
        lambda f: evaluate(FEATURES, EPISODES, chunk_size=0),
        "chunk_size must be a whole number >= 1",
    ),
    "evaluate: seed nan": (lambda f: evaluate(FEATURES, EPISODES, seed=NAN), "seed must be"),
    "evaluate: unknown method": (lambda f: evaluate(FEATURES, EPISODES, "knn"), "unknown method"),
    # run_benchmark
    "benchmark: no settings": (lambda f: benchmark(settings=[]), "settings is empty"),
    "benchmark: setting (5,)": (lambda f: benchmark(settings=[(5,)]), "a setting is (ways, shots)"),
    "benchmark: setting 20-way": (
        lambda f: benchmark(settings=[(2, 1), (20, 1)]),
        "20-way episodes need 20 classes",
    ),
    "benchmark: no methods": (lambda f: benchmark(methods=[]), "methods is empty"),
    "benchmark: unknown method": (lambda f: benchmark(methods=["prototype", "knn"]), "'knn'"),
    "benchmark: episodes 0": (lambda f: benchmark(episodes=0), "episodes must be"),
    "benchmark: queries nan": (lambda f: benchmark(queries=NAN), "queries must be"),
    "benchmark: features of another split": (
        lambda f: run_benchmark(FEATURES[:40], LABELS, 3, [(2, 1)], ["prototype"], 3),
        "features has 40 rows but labels has 80",
    ),
    # predict
    "predict: seed -1": (
        lambda f: predict(f["backbone"], f["support"], [f["query"]], seed=-1),
        "seed must be",
    ),
    "predict: scale 0": (
        lambda f: predict(f["backbone"], f["support"], [f["query"]], scale=0),
        "scale must be > 0",
    ),
    "predict: query folder": (
        lambda f: predict(f["backbone"], f["support"], [f["dir"]]),
        "is a folder, not an image file",
    ),
    "predict: no queries": (
        lambda f: predict(f["backbone"], f["support"], []),
        "no query images given",
    ),
    "predict: one class": (
        lambda f: predict(f["backbone"], f["support"] / "bar", [f["query"]]),
        "needs at least two",
    ),
    # Images
    "image: 16000 x 16000": (
        lambda f: load_image(f["bomb"]),
        "resize it below 89 megapixels",
    ),
    "image: empty": (lambda f: load_image(f["empty_image"]), "is empty (0 bytes)"),
    "image: truncated": (lambda f: load_image(f["truncated_image"]), "cut short"),
    "image: SVG": (lambda f: load_image(f["svg"]), "export it as PNG"),
    "image: text": (lambda f: load_image(f["text_as_png"]), "not an image file"),
    "image: folder": (lambda f: open_image(f["folder_as_image"]), "is a folder, not an image"),
    "image: missing": (lambda f: open_image(f["dir"] / "nope.png"), "does not exist"),
    # Checkpoints
    "checkpoint: folder": (lambda f: load_backbone(f["dir"]), "is a folder, not a"),
    "checkpoint: empty": (lambda f: load_backbone(f["empty_pt"]), "is empty (0 bytes)"),
    "checkpoint: garbage": (lambda f: load_backbone(f["garbage_pt"]), "not a readable"),
    "checkpoint: truncated": (lambda f: load_backbone(f["truncated_pt"]), "cut short"),
    "checkpoint: plain state_dict": (
        lambda f: load_backbone(f["state_dict_pt"]),
        "a plain PyTorch state_dict",
    ),
    "checkpoint: foreign dict": (
        lambda f: load_backbone(f["foreign_pt"]),
        "it holds a dict of 'epoch', 'model'",
    ),
    "checkpoint: does not fit": (lambda f: load_backbone(f["unfit_pt"]), "do not fit Conv4"),
    "checkpoint: missing": (
        lambda f: load_backbone(f["dir"] / "nope.pt"),
        "no fewshot-checkpoint file at",
    ),
    # Data, set-up, saving
    "data: zips missing": (
        lambda f: load_dataset("auto", root=f["dir"], zips=[f["dir"] / "images_background.zip"]),
        "does not exist",
    ),
    "data: zips misnamed": (lambda f: check_zips([f["file"]]), "is not one of Omniglot's zips"),
    "data: image size 0": (lambda f: load_dataset("glyphs", image_size=0), "image_size must"),
    "setup: threads 0": (lambda f: setup(threads=0), "threads must be a whole number from 1"),
    "setup: seed nan": (lambda f: setup(seed=NAN), "seed must be"),
    "save: under a file": (
        lambda f: save_atomically({}, f["file"] / "x.pt"),
        "is a file, not a folder",
    ),
    "save: to a folder": (lambda f: save_atomically({}, f["dir"]), "is a folder: give a file"),
    "write text: under a file": (
        lambda f: write_text_atomically("{}", f["file"] / "r.json"),
        "is a file, not a folder",
    ),
}


@pytest.fixture(scope="module")
def files(bad_files, support_folder):
    torch.manual_seed(0)
    backbone = PretrainedBackbone(Conv4(channels=16).eval(), Preprocessing())
    query = support_folder / "ring" / "0.png"
    return {**bad_files, "support": support_folder, "backbone": backbone, "query": query}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_call_is_a_clear_error(case, files):
    call, phrase = CASES[case]
    with pytest.raises((ValueError, FileNotFoundError)) as raised:
        call(files)
    message = str(raised.value)
    assert phrase in message
    for internal in ("Expected positive integer", "Errno", "UnpicklingError", "cannot convert"):
        assert internal not in message


def test_the_benchmark_checks_every_setting_before_evaluating_any(monkeypatch):
    calls = []
    monkeypatch.setattr(benchmark_module, "evaluate", lambda *a, **k: calls.append(a))
    with pytest.raises(ValueError, match="20-way"):
        benchmark(settings=[(2, 1), (20, 1)])
    assert calls == []


def test_numbers_are_kept_as_whole_numbers():
    assert FineTuning(steps=5.0).steps == 5 and isinstance(FineTuning(steps=5.0).steps, int)
    assert PretrainingConfig(epochs=np.int64(3)).epochs == 3
    again = sample_episodes(LABELS, torch.tensor(2), 1.0, np.int64(3), 4)
    assert torch.equal(again.support, EPISODES.support)
    assert torch.equal(again.query, EPISODES.query)


def test_every_case_is_counted():
    assert len(CASES) >= 50


# ----------------------------------------------------------------------------
# Odd but valid images are accepted
# ----------------------------------------------------------------------------


def ink_on_paper(size=(40, 40)) -> np.ndarray:
    """A dark bar across the top quarter of white paper: grey levels ``[H, W]``."""
    paper = np.full(size[::-1], 255, dtype=np.uint8)
    paper[: size[1] // 4, :] = 0
    return paper


def save_odd(kind: str, path):
    """An odd but valid image of ``kind``; returns the path it was written to."""
    paper = ink_on_paper()
    if kind == "palette with transparency":
        image = Image.fromarray(paper).convert("P")
        image.info["transparency"] = 255  # the paper's palette entry is transparent
        path = path.with_suffix(".png")
        image.save(path, transparency=int(np.asarray(image)[-1, -1]))
    elif kind == "animated GIF":
        first, blank = Image.fromarray(paper), Image.new("L", (40, 40), 255)
        path = path.with_suffix(".gif")
        first.save(path, save_all=True, append_images=[blank, blank], duration=100, loop=0)
    elif kind == "EXIF-rotated JPEG":
        # Stored sideways (the bar on the left), as a phone held sideways saves it;
        # EXIF orientation 6 says: turn it 90 degrees clockwise to show it.
        stored = Image.fromarray(np.rot90(paper, k=1).copy())
        exif = Image.Exif()
        exif[0x0112] = 6
        path = path.with_suffix(".jpg")
        stored.save(path, exif=exif, quality=95)
    elif kind == "1 x 1":
        path = path.with_suffix(".png")
        Image.new("L", (1, 1), 0).save(path)
    elif kind == "16-bit PNG":
        path = path.with_suffix(".png")
        Image.fromarray(paper.astype(np.uint16) * 257).save(path)
    elif kind == "CMYK JPEG":
        path = path.with_suffix(".jpg")
        Image.fromarray(paper).convert("CMYK").save(path, quality=95)
    elif kind == "grey with alpha":
        path = path.with_suffix(".png")
        Image.fromarray(paper).convert("LA").save(path)
    elif kind == "upper-case .JPG":
        path = path.with_suffix(".JPG")
        Image.fromarray(paper).save(path, format="JPEG", quality=95)
    return path


ODD = (
    "palette with transparency",
    "animated GIF",
    "EXIF-rotated JPEG",
    "1 x 1",
    "16-bit PNG",
    "CMYK JPEG",
    "grey with alpha",
    "upper-case .JPG",
)


@pytest.mark.parametrize("kind", ODD)
def test_odd_but_valid_image_is_read_the_right_way_up(kind, tmp_path):
    path = save_odd(kind, tmp_path / "odd")
    image = load_image(path, image_size=28)
    assert image.shape == (28, 28) and image.dtype == torch.uint8
    if kind == "1 x 1":
        assert image.max() == image.min()  # one pixel, everywhere
        return
    # Inverted like the dataset: the bar (ink) is bright, at the top; the paper dark.
    top, bottom = image[:5].float().mean(), image[-10:].float().mean()
    assert top > 200 and bottom < 40, (top, bottom)


def test_odd_images_are_classified_and_hidden_files_skipped(tmp_path, files, support_folder):
    classes, paths = read_class_folders(support_folder)
    assert classes == ["bar", "cross", "ring"]  # not .ipynb_checkpoints, __MACOSX
    assert [[p.name for p in class_paths] for class_paths in paths] == [["0.png", "1.png"]] * 3
    queries = [save_odd(kind, tmp_path / f"odd{i}") for i, kind in enumerate(ODD)]
    results = predict(files["backbone"], support_folder, queries)
    assert [r["query"] for r in results] == [str(q) for q in queries]
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0) for r in results)


def test_a_16_bit_grey_is_its_grey_not_white(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((20, 20), 32768, dtype=np.uint16)).save(path)
    assert open_image(path).getpixel((10, 10)) in (127, 128)
