"""Pretraining on several processes: the sharding rule, global-batch BatchNorm, and a real
two-process ``torchrun`` run against one process.

What holds between one and two processes, with the same global batch and seed: the same
batches, warps and initial weights, and the gradient of the same mean loss with
BatchNorm over the same images. Two things differ in floating point:

* the order of the sums (per process, then across processes). Against one process that
  uses the same BatchNorm arithmetic (:class:`GlobalBatchNorm2d`), the checkpoints agree
  to 3e-5 (weights and running statistics) and the losses to 4e-7 (relative) after the
  run below; the test allows 1e-4 and 1e-5;
* against the ordinary one-process run (``BatchNorm2d``), PyTorch's CPU BatchNorm
  backward on channels-last tensors, which loses precision on channels whose mean is
  large against their spread. There the checkpoints differ by up to 0.05 (a running
  variance) and the losses by 2.5e-3 (relative); the accuracies are the same.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from fewshot_utils.cli import main
from fewshot_utils.models.checkpoints import load_backbone
from fewshot_utils.storage import load_tensors
from fewshot_utils.training import distributed, supervised
from tests.test_folder_dataset import make_folder_dataset

WEIGHT_TOLERANCE = 1e-4
LOSS_TOLERANCE = 1e-5  # relative


def test_the_parts_of_a_batch_are_disjoint_and_cover_it():
    for size in (0, 1, 2, 7, 128, 129):
        for world in (1, 2, 3, 8):
            parts = [distributed.shard(size, distributed.Processes(r, world)) for r in range(world)]
            covered = [i for part in parts for i in range(size)[part]]
            assert covered == list(range(size))
            lengths = [len(range(size)[part]) for part in parts]
            assert max(lengths) - min(lengths) <= 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def one_process_group():
    """A gloo process group of one process: its all-reduces are the identity."""
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    yield
    dist.destroy_process_group()


def test_global_batchnorm_is_batchnorm_forward_and_backward(one_process_group):
    generator = torch.Generator().manual_seed(0)
    x = (3 + 2 * torch.randn(6, 4, 5, 5, generator=generator)).requires_grad_(True)
    x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    weight = torch.rand(4, generator=generator).requires_grad_(True)
    bias = torch.randn(4, generator=generator).requires_grad_(True)
    upstream = torch.randn(6, 4, 5, 5, generator=generator)

    y, mean, unbiased = distributed._GlobalBatchNorm.apply(x, weight, bias, 1e-5)
    grads = torch.autograd.grad((y * upstream).sum(), (x, weight, bias))
    reference = F.batch_norm(x, None, None, weight, bias, training=True, eps=1e-5)
    expected = torch.autograd.grad((reference * upstream).sum(), (x, weight, bias))

    assert torch.allclose(y, reference, atol=1e-5)
    assert torch.allclose(mean, x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(unbiased, x.var(dim=(0, 2, 3), unbiased=True), atol=1e-4)
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4)


def test_batchnorm_layers_are_swapped_and_back_sharing_their_tensors():
    from fewshot_utils.models.conv4 import Conv4

    model = Conv4(channels=4)
    before = dict(model.state_dict())
    distributed.global_batchnorm(model, torch.device("cpu"))
    kinds = {type(m).__name__ for m in model.modules()}
    assert "GlobalBatchNorm2d" in kinds and "BatchNorm2d" not in kinds
    distributed.plain_batchnorm(model)
    assert {type(m) for m in model.modules() if "Norm" in type(m).__name__} == {
        torch.nn.BatchNorm2d
    }
    for name, tensor in model.state_dict().items():
        assert tensor.data_ptr() == before[name].data_ptr(), name  # the same storage


def max_differences(first, second) -> tuple[float, float]:
    """The largest absolute difference of the two checkpoints' weights (backbone and head),
    and of their epochs' losses (relative)."""
    weights = 0.0
    states = [load_tensors(path, "fewshot-checkpoint") for path in (first, second)]
    for part in ("backbone", "head"):
        for name, value in states[0][part].items():
            other = states[1][part][name]
            weights = max(weights, (value.double() - other.double()).abs().max().item())
    losses = max(
        abs(a["loss"] - b["loss"]) / a["loss"]
        for a, b in zip(states[0]["history"], states[1]["history"], strict=True)
    )
    return weights, losses


def test_two_processes_under_torchrun_pretrain_as_one(tmp_path, monkeypatch):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 6, "evaluation": 3})
    data = tmp_path / "data"
    # 48 images, 2 held out per class: 36 to train on, batches of 35 and 1; the last
    # batch leaves one process with nothing to compute, which must still work.
    common = ["--dataset", f"folder:{folder}", "--data-dir", str(data), "--device", "cpu"]
    common += ["--epochs", "2", "--batch-size", "35", "--validation-per-class", "2"]
    out = tmp_path / "ddp"
    out.mkdir()
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launch += ["--nproc_per_node", "2", "-m", "fewshot_utils", "pretrain"]
    finished = subprocess.run(
        [*launch, *common, "--out", str(out / "ddp.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    # Only rank 0 prints and writes: one line, one file, no temporary file left.
    assert finished.stdout.count("checkpoint written to") == 1, finished.stdout
    assert "2 processes (gloo backend): global batch 35" in finished.stdout
    assert [path.name for path in out.iterdir()] == ["ddp.pt"]
    several = load_backbone(out / "ddp.pt")
    assert several.meta["processes"] == 2

    # One process, ordinary BatchNorm2d: the same run but for PyTorch's CPU BatchNorm
    # backward on channels-last tensors, which loses precision on channels whose mean is
    # large against their spread; on this data the first gradient of the lower layers
    # differs by several per cent, and Adam carries that on.
    assert main(["pretrain", *common, "--out", str(tmp_path / "plain.pt")]) == 0
    weights, losses = max_differences(tmp_path / "plain.pt", out / "ddp.pt")
    assert weights < 0.1 and losses < 1e-2  # measured: 0.053 (a running variance), 2.5e-3
    plain = load_backbone(tmp_path / "plain.pt")
    assert [row["train_accuracy"] for row in plain.history] == [
        row["train_accuracy"] for row in several.history
    ]

    # One process with the BatchNorm arithmetic of the two (GlobalBatchNorm2d): the same
    # batches, warps, weights and gradient, up to the order of the sums.
    class GlobalBatchNormModel(supervised.PretrainingModel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            distributed.global_batchnorm(self, torch.device("cpu"))

    monkeypatch.setattr(supervised, "PretrainingModel", GlobalBatchNormModel)
    assert main(["pretrain", *common, "--out", str(tmp_path / "one.pt")]) == 0
    weights, losses = max_differences(tmp_path / "one.pt", out / "ddp.pt")
    assert weights < WEIGHT_TOLERANCE and losses < LOSS_TOLERANCE
    one = load_backbone(tmp_path / "one.pt")
    for row_one, row_several in zip(one.history, several.history, strict=True):
        assert row_one["train_accuracy"] == row_several["train_accuracy"]
        assert row_one["validation_accuracy"] == row_several["validation_accuracy"]
