"""The commands ``data`` (prepare a dataset) and ``pretrain`` (supervised pretraining of Conv4)."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import time
from pathlib import Path

from fewshot_utils.cli.arguments import (
    add_dataset_arguments,
    add_threads_argument,
    dataset_from_arguments,
    set_threads,
)
from fewshot_utils.cli.checks import number
from fewshot_utils.cli.device_options import add_device_argument
from fewshot_utils.paths import own_checkpoint, shown


def _add_number(parser: argparse.ArgumentParser, defaults, name: str, help: str) -> None:
    """The option ``--name`` (``_`` written ``-``) for the course's checked number ``name``
    (:func:`~fewshot_utils.cli.checks.number`), by default ``defaults.name``."""
    parser.add_argument(
        "--" + name.replace("_", "-"),
        type=number(name),
        default=getattr(defaults, name),
        help=help,
    )


def run_data(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    dataset = dataset_from_arguments(args)
    print(dataset.describe())
    print(f"ready in {time.perf_counter() - start:.1f} s")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    """One process, or one of several under ``torchrun`` (the same pretraining, split across
    them: :mod:`fewshot_utils.training.distributed`); only rank 0 prints and writes."""
    from fewshot_utils.devices import choose_device
    from fewshot_utils.training import distributed
    from fewshot_utils.training.resume import epoch_checkpoint_path, epochs_done
    from fewshot_utils.training.supervised import PretrainingConfig, pretrain

    set_threads(args)
    device, place = distributed.start(choose_device(args.device, announce=False))
    try:
        quiet = (
            contextlib.nullcontext() if place.main else contextlib.redirect_stdout(io.StringIO())
        )
        with quiet:
            choose_device(args.device)
            if place.world > 1:
                gpus = ", one GPU each" if device.type == "cuda" else ""
                print(
                    f"{place.world} processes ({distributed.backend()} backend{gpus}): global "
                    f"batch {args.batch_size}, about {args.batch_size / place.world:g} images "
                    "per process and step"
                )
            config = PretrainingConfig(  # checks every number before the data is read
                epochs=args.epochs,
                seed=args.seed,
                batch_size=args.batch_size,
                lr=args.lr,
                validation_per_class=args.validation_per_class,
                channels=args.channels,
                rotations_as_classes=args.rotations_as_classes,
            )
            with distributed.main_first(place):  # rank 0 builds any cache, the others read it
                dataset = dataset_from_arguments(args, progress=place.main)
            start = time.perf_counter()
            kept = epoch_checkpoint_path(args.out)
            done = epochs_done(kept) if args.resume else 0
            if args.resume:
                print(f"resuming after epoch {done} of {config.epochs} ({shown(kept)})")
            result = pretrain(
                dataset.background,
                config,
                progress=True,
                device=device,
                epoch_checkpoint=kept,
                resume=args.resume,
            )
            seconds = time.perf_counter() - start
            if place.main:
                _save_pretrained(args, dataset, result, seconds, device, place.world, done)
                kept.unlink(missing_ok=True)  # the final checkpoint holds everything it did
    except BaseException:
        distributed.finish(wait=False)  # the other processes stop instead of waiting for us
        raise
    distributed.finish()
    return 0


def _save_pretrained(
    args, dataset, result, seconds: float, device, processes: int, resumed_after: int
) -> None:
    import torch

    last = result.history[-1]
    meta = {
        "dataset": dataset.name,
        "split": "background",
        "num_classes": dataset.background.num_classes,
        "command": "python -m fewshot_utils " + shlex.join(args.argv),
        "seconds": seconds,
        "device": device.type,
        "processes": processes,
        "threads": torch.get_num_threads(),
        "resumed_after_epoch": resumed_after,
    }
    path = result.save(args.out, meta)
    epochs = f"{result.config.epochs} epochs"
    if resumed_after:  # this command ran only the epochs after the kept ones
        epochs = f"the last {result.config.epochs - resumed_after} of {epochs}"
    print(
        f"pretrained {epochs} in {seconds:.0f} s: validation accuracy "
        f"{last['validation_accuracy']:.1f}%; checkpoint written to {shown(path)}"
    )


def add_subcommands(commands) -> None:
    """Add ``data`` and ``pretrain`` to argparse's ``add_subparsers()``."""
    from fewshot_utils.training.supervised import PretrainingConfig

    data = commands.add_parser("data", help="prepare a dataset and describe its splits")
    add_dataset_arguments(data)
    data.set_defaults(run=run_data)

    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain Conv4 on the background classes (on several processes: torchrun "
        "--nproc_per_node N -m fewshot_utils pretrain ...)",
    )
    add_dataset_arguments(pretrain)
    add_device_argument(pretrain)
    add_threads_argument(pretrain)
    defaults = PretrainingConfig()
    _add_number(pretrain, defaults, "epochs", f"default: {defaults.epochs}")
    _add_number(pretrain, defaults, "seed", "seeds weights, split and batches")
    _add_number(
        pretrain,
        defaults,
        "batch_size",
        f"the global batch, split across processes under torchrun (default: {defaults.batch_size})",
    )
    _add_number(pretrain, defaults, "lr", f"AdamW's peak learning rate ({defaults.lr:g})")
    pretrain.add_argument(
        "--channels",
        type=int,
        metavar="N",
        default=defaults.channels,
        help=f"Conv4's width: channels of every layer and of f(x) (default: {defaults.channels})",
    )
    pretrain.add_argument(
        "--rotations-as-classes",
        action="store_true",
        help="also train on every class turned by 90, 180 and 270 degrees, each turn a class "
        "of its own (4x the classes and the time per epoch; the shipped backbone's recipe)",
    )
    pretrain.add_argument(
        "--validation-per-class",
        type=int,
        default=defaults.validation_per_class,
        metavar="N",
        help=f"images of every class held out to measure accuracy "
        f"(default: {defaults.validation_per_class}; 0: none)",
    )
    pretrain.add_argument(
        "--out",
        type=Path,
        default=own_checkpoint(),
        help=f"the checkpoint to write (default: {shown(own_checkpoint())}, where "
        "find_backbone('mine') and --checkpoint mine look)",
    )
    pretrain.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run after its last finished epoch: every epoch is "
        "kept beside --out (conv4.pt -> conv4.last-epoch.pt); give the same settings",
    )
    pretrain.set_defaults(run=run_pretrain)
