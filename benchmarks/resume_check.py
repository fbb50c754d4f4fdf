"""Kill a real pretraining after its first epoch, resume it, compare with an uninterrupted run.

    python benchmarks/resume_check.py                      # 3 epochs of Glyphs (offline)
    python benchmarks/resume_check.py --dataset omniglot --epochs 3

Runs ``python -m fewshot_utils pretrain`` three times in a scratch folder: once to the end;
once killed with SIGKILL (a closed laptop: no chance to tidy up) as soon as its first
epoch is kept; then that one again with ``--resume``. Prints the largest absolute
difference between the two final checkpoints' weights (0 is expected on one machine with
one number of threads) and the time each run took.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone

from fewshot_utils.storage import load_tensors  # noqa: E402
from fewshot_utils.training.resume import epoch_checkpoint_path, epochs_done  # noqa: E402


def pretrain(arguments: list[str], kill_when: Path | None = None) -> tuple[int, float]:
    """Run ``pretrain *arguments``; with ``kill_when``, SIGKILL it once that file exists.
    Returns ``(exit status, seconds)``."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fewshot_utils", "pretrain", *arguments])
    while kill_when is not None and process.poll() is None and not kill_when.exists():
        time.sleep(0.05)
    if kill_when is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
    return process.wait(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glyphs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    common = ["--dataset", args.dataset, "--epochs", str(args.epochs)]
    common += ["--threads", str(args.threads), "--device", "cpu"]
    with tempfile.TemporaryDirectory() as scratch:
        whole, out = Path(scratch) / "whole.pt", Path(scratch) / "killed.pt"
        kept = epoch_checkpoint_path(out)
        code, whole_seconds = pretrain([*common, "--out", str(whole)])
        assert code == 0, f"the uninterrupted run failed ({code})"
        code, killed_seconds = pretrain([*common, "--out", str(out)], kill_when=kept)
        assert code == -signal.SIGKILL, f"the run was not killed mid-way ({code})"
        done = epochs_done(kept)
        assert not out.exists(), "the killed run wrote its final checkpoint"
        code, resumed_seconds = pretrain([*common, "--out", str(out), "--resume"])
        assert code == 0, f"the resumed run failed ({code})"
        first = load_tensors(whole, "fewshot-checkpoint")["backbone"]
        second = load_tensors(out, "fewshot-checkpoint")["backbone"]
        difference = max(
            (first[name].double() - second[name].double()).abs().max().item() for name in first
        )
    print(f"\n{args.epochs} epochs of {args.dataset}, {args.threads} thread(s):")
    print(f"  uninterrupted run:           {whole_seconds:6.1f} s")
    print(f"  killed (SIGKILL) after epoch {done}: {killed_seconds:6.1f} s")
    print(f"  resumed with --resume:       {resumed_seconds:6.1f} s")
    print(f"  max abs weight difference, resumed vs uninterrupted: {difference:g}")
    numbers = sum(t.numel() for t in first.values())
    print(f"  ({numbers:,} numbers compared, torch {torch.__version__})")


if __name__ == "__main__":
    main()
