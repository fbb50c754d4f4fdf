"""An interrupted pretraining loses at most the epoch that was running.

``pretrain`` keeps every finished epoch beside its checkpoint and ``--resume`` goes on
from there; the resumed run must end with the very weights of a run never interrupted
(same machine, same threads: a max abs difference of 0). The command-line tests kill
real ``python -m fewshot_utils pretrain`` processes on the tiny test data.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fewshot_utils.cli import main
from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.models.checkpoints import load_backbone
from fewshot_utils.paths import shown
from fewshot_utils.storage import load_tensors
from fewshot_utils.training.resume import epoch_checkpoint_path, epochs_done
from fewshot_utils.training.siamese import SiameseConfig, pretrain_siamese
from fewshot_utils.training.supervised import PretrainingConfig, pretrain
from tests.conftest import make_toy_split
from tests.test_reliability import ctrl_c_as_in_a_terminal, data_arguments, environment


def max_difference(first: dict, second: dict) -> float:
    """The largest absolute difference between two state dicts with the same keys."""
    assert first.keys() == second.keys()
    return max((first[k].double() - second[k].double()).abs().max().item() for k in first)


def stop_after(epochs: int):
    """An ``after_epoch`` that presses Ctrl-C in the epoch after ``epochs``."""

    def after_epoch(model, row):
        if row["epoch"] > epochs:
            raise KeyboardInterrupt

    return after_epoch


@pytest.fixture
def split():
    """A small base split: 6 classes of 12 images."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(6).repeat_interleave(12)
    images = (torch.rand(len(labels), 28, 28, generator=generator) * 255).to(torch.uint8)
    return make_toy_split(labels, images, split="background")


@pytest.mark.parametrize("way", ["supervised", "siamese"])
def test_a_resumed_run_ends_with_the_uninterrupted_runs_weights(split, tmp_path, way):
    if way == "supervised":
        run, config = pretrain, PretrainingConfig(epochs=3, batch_size=8, channels=8)
    else:
        run, config = pretrain_siamese, SiameseConfig(epochs=3, batch_size=8, channels=8)
    whole = run(split, config, progress=False).model.state_dict()

    kept = tmp_path / "conv4.last-epoch.pt"
    with pytest.raises(KeyboardInterrupt):
        run(split, config, progress=False, epoch_checkpoint=kept, after_epoch=stop_after(1))
    assert epochs_done(kept) == 1
    assert load_backbone(kept).history[0]["epoch"] == 1  # also a checkpoint of its own

    resumed = run(split, config, progress=False, epoch_checkpoint=kept, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert max_difference(resumed.model.state_dict(), whole) == 0.0
    assert epochs_done(kept) == 3


def test_resuming_with_other_settings_is_refused(split, tmp_path):
    kept = tmp_path / "conv4.last-epoch.pt"
    config = PretrainingConfig(epochs=2, batch_size=8, channels=8)
    with pytest.raises(KeyboardInterrupt):
        pretrain(split, config, progress=False, epoch_checkpoint=kept, after_epoch=stop_after(1))
    other = PretrainingConfig(epochs=5, batch_size=8, channels=8, lr=1e-3)
    with pytest.raises(ValueError, match=r"epochs=2 \(now 5\), lr=0.003 \(now 0.001\)"):
        pretrain(split, other, progress=False, epoch_checkpoint=kept, resume=True)
    with pytest.raises(ValueError, match="resume=True needs epoch_checkpoint=PATH"):
        pretrain(split, config, progress=False, resume=True)


# ----------------------------------------------------------------------------
# The command line: a real process, killed
# ----------------------------------------------------------------------------


@pytest.fixture
def command(tmp_path, tiny_omniglot_zips):
    """``pretrain`` on the tiny Omniglot, 3 epochs of 48 small batches (about a second
    each), as argument lists for ``out``."""
    root = tmp_path / "data"
    load_dataset("omniglot", root=root, zips=tiny_omniglot_zips, download=False)

    def arguments(out: Path, *extra: str) -> list[str]:
        return [
            "pretrain",
            *data_arguments(root, tiny_omniglot_zips),
            *("--epochs", "3", "--batch-size", "2", "--threads", "1", "--out", str(out)),
            *extra,
        ]

    return arguments


def run_until_an_epoch_is_kept(arguments: list[str], kept: Path, how: signal.Signals):
    """Start the command, send it ``how`` as soon as its first epoch is kept; return
    ``(exit status, stderr)``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot_utils", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment(),
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    try:
        deadline = time.monotonic() + 240
        while not kept.exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no epoch was kept in 240 s"
            time.sleep(0.01)
        process.send_signal(how)
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return code, process.stderr.read().decode(errors="replace")


def final_weights(path: Path) -> dict:
    return load_tensors(path, "fewshot-checkpoint")["backbone"]


def test_pretrain_killed_after_an_epoch_resumes_to_the_same_weights(tmp_path, command):
    whole = tmp_path / "whole" / "conv4.pt"
    assert main(command(whole)) == 0
    assert not epoch_checkpoint_path(whole).exists()  # the final checkpoint holds it all

    out = tmp_path / "killed" / "conv4.pt"
    kept = epoch_checkpoint_path(out)
    code, _ = run_until_an_epoch_is_kept(command(out), kept, signal.SIGKILL)
    assert code == -signal.SIGKILL  # like a closed laptop: no chance to tidy up
    assert not out.exists() and epochs_done(kept) in (1, 2)

    assert main(command(out, "--resume")) == 0
    assert not kept.exists()
    difference = max_difference(final_weights(out), final_weights(whole))
    print(f"max abs difference, resumed vs uninterrupted: {difference}")
    assert difference == 0.0
    assert [row["epoch"] for row in load_backbone(out).history] == [1, 2, 3]


def test_ctrl_c_in_pretraining_says_how_to_resume(tmp_path, command, capsys):
    out = tmp_path / "conv4.pt"
    kept = epoch_checkpoint_path(out)
    code, err = run_until_an_epoch_is_kept(command(out), kept, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    done = epochs_done(kept)
    assert err.strip().splitlines()[-1] == (
        f"interrupted: wrote {shown(kept)}; {shown(out)} was not created; {done} finished "
        "epoch(s) kept: run the same command with --resume"
    )

    # Starting afresh would overwrite the kept epochs: refused, with the way out.
    assert main(command(out)) == 2
    assert f"{shown(kept)} holds {done} finished epoch(s) of an interrupted run" in (
        capsys.readouterr().err
    )
    assert epochs_done(kept) == done


def test_resume_with_nothing_to_resume_is_a_clear_error(tmp_path, command, capsys):
    out = tmp_path / "conv4.pt"
    assert main(command(out, "--resume")) == 2
    err = capsys.readouterr().err
    assert "--resume: there is no interrupted run to resume" in err
    assert "run without --resume to start" in err
