"""The commands ``data`` (prepare a dataset) and ``pretrain`` (supervised pretraining of Conv4)."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from fewshot_utils.cli.arguments import add_dataset_arguments, dataset_from_arguments
from fewshot_utils.cli.checks import number
from fewshot_utils.paths import own_checkpoint, shown


def run_data(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    dataset = dataset_from_arguments(args)
    print(dataset.describe())
    print(f"ready in {time.perf_counter() - start:.1f} s")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    """Pretrain and write ``--out``; every argument was checked before this starts
    (:mod:`fewshot_utils.cli.checks`), so a doomed run fails at once, not after training."""
    from fewshot_utils.training.supervised import PretrainingConfig, pretrain

    config = PretrainingConfig(
        epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, lr=args.lr
    )
    dataset = dataset_from_arguments(args)
    start = time.perf_counter()
    result = pretrain(dataset.background, config, progress=True)
    seconds = time.perf_counter() - start
    last = result.history[-1]
    meta = {
        "dataset": dataset.name,
        "split": "background",
        "num_classes": dataset.background.num_classes,
        "command": "python -m fewshot_utils " + shlex.join(args.argv),
        "seconds": seconds,
    }
    path = result.save(args.out, meta)
    print(
        f"pretrained {config.epochs} epochs in {seconds:.0f} s: validation accuracy "
        f"{last['validation_accuracy']:.1f}%; checkpoint written to {shown(path)}"
    )
    return 0


def add_subcommands(commands) -> None:
    """Add ``data`` and ``pretrain`` to argparse's ``add_subparsers()``."""
    from fewshot_utils.training.supervised import PretrainingConfig

    data = commands.add_parser("data", help="prepare a dataset and describe its splits")
    add_dataset_arguments(data)
    data.set_defaults(run=run_data)

    pretrain = commands.add_parser("pretrain", help="pretrain Conv4 on the background classes")
    add_dataset_arguments(pretrain)
    defaults = PretrainingConfig()
    pretrain.add_argument(
        "--epochs",
        type=number("epochs"),
        default=defaults.epochs,
        help=f"default: {defaults.epochs}",
    )
    pretrain.add_argument(
        "--seed",
        type=number("seed"),
        default=defaults.seed,
        help="seeds weights, split and batches",
    )
    pretrain.add_argument(
        "--batch-size",
        type=number("batch_size"),
        default=defaults.batch_size,
        help=f"default: {defaults.batch_size}",
    )
    pretrain.add_argument(
        "--lr",
        type=number("lr"),
        default=defaults.lr,
        help=f"AdamW's peak learning rate ({defaults.lr:g})",
    )
    pretrain.add_argument(
        "--out",
        type=Path,
        default=own_checkpoint(),
        help=f"the checkpoint to write (default: {shown(own_checkpoint())}, where "
        "find_backbone('mine') and --checkpoint mine look)",
    )
    pretrain.set_defaults(run=run_pretrain)
