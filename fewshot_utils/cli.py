"""The command line: ``python -m fewshot_utils <command>``.

* ``data``: prepare a dataset (download, extract, cache) and describe its splits;
* ``pretrain``: supervised pretraining of Conv4, written to a checkpoint;
* ``evaluate``, ``benchmark``, ``predict``: few-shot classification
  (:mod:`fewshot_utils.cli_fewshot`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from fewshot_utils import cli_fewshot
from fewshot_utils.data import DATASETS, OmniglotUnavailable, load_dataset
from fewshot_utils.pretraining import PretrainingConfig


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-dir`` and ``--zips``, shared by every command that loads data."""
    parser.add_argument("--dataset", choices=DATASETS, default="auto", help="default: auto")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where data lives (default: data/)"
    )
    parser.add_argument(
        "--zips",
        nargs="+",
        type=Path,
        default=None,
        help="local Omniglot zips (images_background.zip images_evaluation.zip)",
    )


def dataset_from_arguments(args: argparse.Namespace, progress: bool = True):
    return load_dataset(args.dataset, root=args.data_dir, zips=args.zips, progress=progress)


def run_data(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    dataset = dataset_from_arguments(args)
    print(dataset.describe())
    print(f"ready in {time.perf_counter() - start:.1f} s")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    from fewshot_utils.checkpoints import save_checkpoint
    from fewshot_utils.pretraining import config_dict, pretrain

    dataset = dataset_from_arguments(args)
    config = PretrainingConfig(
        epochs=args.epochs, seed=args.seed, batch_size=args.batch_size, lr=args.lr
    )
    start = time.perf_counter()
    result = pretrain(dataset.background, config, progress=True)
    seconds = time.perf_counter() - start
    last = result.history[-1]
    meta = {
        "dataset": dataset.name,
        "split": "background",
        "num_classes": dataset.background.num_classes,
        "config": config_dict(config),
        "command": "python -m fewshot_utils " + shlex.join(args.argv),
        "seconds": seconds,
    }
    path = save_checkpoint(
        args.out,
        result.backbone,
        result.preprocessing,
        history=result.history,
        meta=meta,
        head=result.model.head,
    )
    print(
        f"pretrained {config.epochs} epochs in {seconds:.0f} s: validation accuracy "
        f"{last['validation_accuracy']:.1f}%; checkpoint written to {path}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fewshot_utils", description="Few-shot learning course helpers."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="prepare a dataset and describe its splits")
    add_dataset_arguments(data)
    data.set_defaults(run=run_data)

    pretrain = commands.add_parser("pretrain", help="pretrain Conv4 on the background classes")
    add_dataset_arguments(pretrain)
    defaults = PretrainingConfig()
    pretrain.add_argument("--epochs", type=int, default=defaults.epochs)
    pretrain.add_argument("--seed", type=int, default=defaults.seed)
    pretrain.add_argument("--batch-size", type=int, default=defaults.batch_size)
    pretrain.add_argument("--lr", type=float, default=defaults.lr)
    pretrain.add_argument("--out", type=Path, default=Path("checkpoints/conv4.pt"))
    pretrain.set_defaults(run=run_pretrain)

    cli_fewshot.add_subcommands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except (OmniglotUnavailable, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
