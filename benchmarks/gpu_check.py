"""GPU check: the benchmark and one pretraining epoch on a GPU, beside the same on the CPU.

    python benchmarks/gpu_check.py [--device cuda] [--reference cpu] [--dataset auto]
                                   [--checkpoint shipped] [--episodes 1000]
                                   [--settings 5x1 5x5 20x1 20x5] [--methods KEY ...]
                                   [--epochs 1] [--threads 2] [--json gpu_check.json]

A check that prints figures, not a test (there is no GPU where the tests run). For each
of ``--reference`` (the CPU) and ``--device`` (a CUDA GPU, or ``mps``) it

1. loads the ``--checkpoint`` onto the device, embeds the evaluation split there and runs
   :func:`fewshot_utils.fewshot.benchmark.run_benchmark` on the same seeded episodes
   (they are sampled on the CPU, so both devices see the very same episodes);
2. pretrains Conv4 for ``--epochs`` epoch(s) on the background classes with the same seed
   (the initial weights, batch order and warps are drawn on the CPU), then measures the
   new backbone's prototype accuracy on ``--episodes`` episodes of the first setting.

It prints each accuracy ± its 95% CI on both devices, whether the two intervals overlap
("agree"), and the seconds of each part. The devices cannot agree to the last digit
(their kernels add in other orders, cuDNN picks its own algorithms), but on the same
episodes the difference should be far inside the intervals. Exits with status 1 if any
pair of intervals does not overlap.

It runs on any machine with ``--device cpu`` (both sides on the CPU; then the two
columns must be identical), which is how it is kept working where there is no GPU.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see fewshot_utils.runtime

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone

from fewshot_utils.cli.arguments import parse_setting  # noqa: E402
from fewshot_utils.data.datasets import load_dataset  # noqa: E402
from fewshot_utils.devices import choose_device, describe_device  # noqa: E402
from fewshot_utils.fewshot.benchmark import (  # noqa: E402
    SETTINGS,
    Setting,
    run_benchmark,  # noqa: E402
)
from fewshot_utils.fewshot.episodes import sample_episodes  # noqa: E402
from fewshot_utils.fewshot.evaluation import evaluate  # noqa: E402
from fewshot_utils.fewshot.methods import METHOD_KEYS  # noqa: E402
from fewshot_utils.models.checkpoints import find_backbone  # noqa: E402
from fewshot_utils.models.conv4 import embed  # noqa: E402
from fewshot_utils.training.supervised import PretrainingConfig, pretrain  # noqa: E402


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work, so that a time measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def on_device(device: torch.device, dataset, args) -> dict:
    """Benchmark and pretraining figures of one device."""
    first = Setting.of(args.settings[0])
    figures = {"device": describe_device(device), "probe_setting": [first.ways, first.shots]}
    pretrained = find_backbone(args.checkpoint, device=device)
    split = dataset.evaluation
    start = time.perf_counter()
    features = embed(pretrained.backbone, split.images, pretrained.preprocessing)
    synchronise(device)
    figures["embed_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    figures["benchmark"] = run_benchmark(
        features,
        split.labels,
        episodes=args.episodes,
        settings=args.settings,
        methods=args.methods,
        queries=args.queries,
        device=device,
    )
    synchronise(device)
    figures["benchmark_seconds"] = time.perf_counter() - start

    config = PretrainingConfig(epochs=args.epochs, seed=0)
    start = time.perf_counter()
    result = pretrain(dataset.background, config, progress=False, device=device)
    synchronise(device)
    figures["pretraining_seconds"] = time.perf_counter() - start
    last = result.history[-1]
    figures["pretraining"] = {
        "loss": last["loss"],
        "validation_accuracy": last["validation_accuracy"],
    }
    features = embed(result.backbone, split.images, result.preprocessing)
    ways, shots = Setting.of(args.settings[0]).ways, Setting.of(args.settings[0]).shots
    episodes = sample_episodes(split.labels, ways, shots, args.queries, args.episodes, seed=0)
    probe = evaluate(features, episodes, "prototype")
    figures["pretraining"]["probe"] = [probe.accuracy, probe.ci95]
    return figures


def overlap(a: float, ci_a: float, b: float, ci_b: float) -> bool:
    """Whether the intervals ``a ± ci_a`` and ``b ± ci_b`` share a point."""
    return abs(a - b) <= ci_a + ci_b


def report(reference: dict, other: dict) -> bool:
    """Print both devices' figures side by side; True when every pair of intervals overlaps."""
    print(f"\n{'':44s} {reference['device']:>22s} {other['device']:>22s}  agree")
    agree = True
    for ref, oth in zip(reference["benchmark"], other["benchmark"], strict=True):
        label = f"{ref['ways']}-way {ref['shots']}-shot {ref['method']}"
        same = overlap(ref["accuracy"], ref["ci95"], oth["accuracy"], oth["ci95"])
        agree &= same
        print(
            f"{label:44s} {ref['accuracy']:14.2f} ± {ref['ci95']:4.2f} "
            f"{oth['accuracy']:14.2f} ± {oth['ci95']:4.2f}  {'yes' if same else 'NO'}"
        )
    ref_probe, oth_probe = (f["pretraining"]["probe"] for f in (reference, other))
    same = overlap(*ref_probe, *oth_probe)
    agree &= same
    ways, shots = reference["probe_setting"]
    print(
        f"{f'after pretraining: prototype {ways}-way {shots}-shot':44s} "
        f"{ref_probe[0]:14.2f} ± {ref_probe[1]:4.2f} {oth_probe[0]:14.2f} ± {oth_probe[1]:4.2f}"
        f"  {'yes' if same else 'NO'}"
    )
    for key, label in (("validation_accuracy", "validation accuracy %"), ("loss", "loss")):
        print(
            f"{'after pretraining: ' + label:44s} {reference['pretraining'][key]:21.3f} "
            f"{other['pretraining'][key]:22.3f}"
        )
    for key in ("embed_seconds", "benchmark_seconds", "pretraining_seconds"):
        print(f"{key.replace('_', ' '):44s} {reference[key]:20.1f} s {other[key]:20.1f} s")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to check (default: cuda)")
    parser.add_argument("--reference", default="cpu", help="what to compare with (the CPU)")
    parser.add_argument("--dataset", default="auto", help="auto, omniglot, glyphs or folder:PATH")
    parser.add_argument("--checkpoint", default="shipped", help="the backbone to benchmark")
    parser.add_argument("--data-dir", type=Path, default=None, help="where data lives")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=15, help="queries per class")
    parser.add_argument("--settings", nargs="+", type=parse_setting, default=list(SETTINGS))
    parser.add_argument("--methods", nargs="+", choices=list(METHOD_KEYS), default=None)
    parser.add_argument("--epochs", type=int, default=1, help="pretraining epochs (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [choose_device(args.reference), choose_device(args.device)]
    dataset = load_dataset(args.dataset, root=args.data_dir)
    print(dataset.describe())
    figures = []
    for device in devices:
        print(f"running on {describe_device(device)} ...", flush=True)
        figures.append(on_device(device, dataset, args))
    agree = report(*figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    print("the devices agree within their 95% intervals" if agree else "THE DEVICES DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
