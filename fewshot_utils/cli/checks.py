"""The command line's checks: every number and path a learner types, before any work starts.

* Numbers: :func:`number` makes argparse ``type=`` functions from the course's rules
  (:data:`fewshot_utils.validation.RULES`), so ``--ways 1``, ``--threads 0``,
  ``--lr nan`` or ``--epochs 2.5`` stop at parsing with exit status 2 and a message that
  says the value, the range and what the course uses; :func:`setting` reads ``5x1``.
* Paths: :func:`check_paths` checks the files a command reads (``--checkpoint``,
  ``--support``, ``--query``, ``--zips``) and writes (``--out``, ``--json``,
  ``--markdown``: not a folder, in a folder that exists or can be made and is
  writable, not one of the inputs, not a file of someone else's that would be lost),
  and ``--data-dir``, before the data are loaded or a single step is trained.
* Ctrl-C: :func:`interrupted` is the one line a command ends with when interrupted,
  saying which of its outputs were written and which are unchanged
  (:func:`output_states` notes them before the command runs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from pathlib import Path

from fewshot_utils.paths import SHIPPED_CHECKPOINT, own_checkpoint, shown
from fewshot_utils.validation import (
    InputError,
    check,
    check_folder,
    check_input_file,
    check_output_file,
)

#: The files each command writes: command -> the arguments that name them.
OUTPUTS = {"pretrain": ("out",), "evaluate": ("json",), "benchmark": ("json", "markdown")}
OUTPUTS["predict"] = ("json",)
FLAGS = {"out": "--out", "json": "--json", "markdown": "--markdown"}
EXAMPLES = {"out": "conv4.pt", "json": "results.json", "markdown": "table.md"}
#: A foreign file bigger than this at ``--out`` is refused without reading it.
LARGEST_CHECKPOINT_BYTES = 256 * 2**20


def number(name: str):
    """An argparse ``type=`` for the course's number ``name`` (a key of
    :data:`~fewshot_utils.validation.RULES`, or ``"threads"``): text -> the checked
    number, or ``argparse.ArgumentTypeError`` with the rule's message."""

    def parse(text: str):
        value: object = text
        for convert in (int, float):
            try:
                value = convert(text)
                break
            except ValueError:
                continue
        try:
            return check(name, value, name.replace("_", " "))
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = name
    return parse


def setting(text: str) -> tuple[int, int]:
    """``"5x1"`` -> ``(5, 1)``: ways and shots, each checked."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"setting {text!r} is not WAYSxSHOTS, e.g. 5x1 or 20x5")
    ways, shots = (number(name)(part) for name, part in zip(("ways", "shots"), parts, strict=True))
    return ways, shots


# ----------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------


def _same(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _check_checkpoint_out(path: Path) -> None:
    """``pretrain --out``: never the shipped backbone, never a file that is not a checkpoint."""
    from fewshot_utils.models.checkpoints import KIND
    from fewshot_utils.storage import CorruptFileError, load_tensors

    if _same(path, SHIPPED_CHECKPOINT):
        raise InputError(
            f"--out {shown(path)} is the shipped backbone that the notebooks use: write "
            f"your own elsewhere, e.g. --out {shown(own_checkpoint())} (the default)"
        )
    if not path.is_file() or path.stat().st_size == 0:
        return
    replace = (
        f"pretrain would replace it: choose another --out, or delete {shown(path)} first "
        "if you mean to"
    )
    if path.stat().st_size > LARGEST_CHECKPOINT_BYTES:
        raise InputError(f"--out {shown(path)} exists and is too big to be a checkpoint; {replace}")
    try:
        load_tensors(path, KIND)
    except CorruptFileError:
        raise InputError(
            f"--out {shown(path)} exists and is not a checkpoint of this course; {replace}"
        ) from None


def check_paths(args: argparse.Namespace) -> None:
    """Check every path argument ``args`` has, for its command; raises
    :class:`~fewshot_utils.validation.InputError` saying what to fix."""
    inputs: list[Path] = []
    if getattr(args, "data_dir", None) is not None:
        check_folder(args.data_dir, "--data-dir")
    if getattr(args, "zips", None):
        from fewshot_utils.data.omniglot import check_zips

        check_zips(args.zips)
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint == "mine" and not own_checkpoint().is_file():
        raise InputError(
            f"--checkpoint mine: you have no backbone of your own yet ({shown(own_checkpoint())} "
            "does not exist): run `python -m fewshot_utils pretrain` or notebook 01 first, or "
            "use --checkpoint shipped"
        )
    if checkpoint not in (None, "shipped", "mine"):
        hint = "--checkpoint takes a checkpoint file, 'shipped' or 'mine'"
        inputs.append(check_input_file(checkpoint, "checkpoint", hint))
    if getattr(args, "support", None) is not None:
        from fewshot_utils.data.folders import read_class_folders

        read_class_folders(args.support)
    for query in getattr(args, "query", None) or ():
        inputs.append(check_input_file(query, "query image", "give an image file to classify"))
    written: list[Path] = []
    for name in OUTPUTS.get(args.command, ()):
        path = getattr(args, name, None)
        if path is None:
            continue
        flag = FLAGS[name]
        check_output_file(path, flag, EXAMPLES[name])
        for other in inputs + written:
            if _same(path, other):
                raise InputError(
                    f"{flag} {shown(path)} is also an input (or another output) of this "
                    "command, and would be overwritten: write the results to another file"
                )
        written.append(Path(path))
    if args.command == "pretrain":
        _check_checkpoint_out(Path(args.out))
        _check_resume(args)
    if args.command == "student-copies":
        check_folder(args.out, "--out")
        for notebook in args.notebooks:
            check_input_file(notebook, "notebook", "give a notebook file (.ipynb)")


def _check_resume(args: argparse.Namespace) -> None:
    """``--resume`` needs an interrupted run's epoch checkpoint beside ``--out``; without
    ``--resume`` such a file must not be overwritten by a fresh start."""
    from fewshot_utils.training.resume import epoch_checkpoint_path, epochs_done

    kept = epoch_checkpoint_path(args.out)
    check_output_file(kept, "--out", EXAMPLES["out"])
    done = epochs_done(kept)
    if getattr(args, "resume", False) and done is None:
        raise InputError(
            f"--resume: there is no interrupted run to resume, {shown(kept)} does not exist "
            f"(a `pretrain --out {shown(args.out)}` keeps its finished epochs there): run "
            "without --resume to start"
        )
    if not getattr(args, "resume", False) and kept.exists():
        what = f"{done} finished epoch(s) of an interrupted run" if done else "a file"
        raise InputError(
            f"{shown(kept)} holds {what}, and starting afresh would overwrite it: add "
            f"--resume to continue that run, or delete {shown(kept)} to start again"
        )


# ----------------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------------


def _state(path: Path):
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns, status.st_ino


def output_states(args: argparse.Namespace) -> dict[Path, object]:
    """The command's output files and their state now (``None``: no file yet)."""
    paths = [getattr(args, name, None) for name in OUTPUTS.get(args.command, ())]
    if args.command == "pretrain":
        from fewshot_utils.training.resume import epoch_checkpoint_path

        paths.append(epoch_checkpoint_path(args.out))
    return {Path(path): _state(Path(path)) for path in paths if path is not None}


@contextlib.contextmanager
def ctrl_c_ignored():
    """Ignore Ctrl-C (SIGINT) inside the block, where it can be (the main thread)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def close_progress_bars() -> None:
    """Close the progress bars an interrupted loop left open, so that they print their last
    state now, not after the line saying what was kept."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def interrupted(args: argparse.Namespace | None, before: dict[Path, object]) -> str:
    """The line an interrupted command ends with: what it wrote and what it left unchanged."""
    if args is None or args.command in ("data", "student-copies"):
        return "interrupted: nothing is half-written (files are written whole or not at all)"
    written = [path for path, state in before.items() if _state(path) != state]
    epochs = None
    if args.command == "pretrain":
        from fewshot_utils.training.resume import epoch_checkpoint_path

        epochs = epoch_checkpoint_path(args.out)
    kept = [
        f"{shown(path)} is unchanged" if state is not None else f"{shown(path)} was not created"
        for path, state in before.items()
        if path not in written and not (path == epochs and state is None)
    ]
    said = "wrote " + ", ".join(shown(path) for path in written) if written else "nothing written"
    resume = []
    if epochs is not None:
        from fewshot_utils.training.resume import epochs_done

        done = epochs_done(epochs)
        if done:
            resume = [f"{done} finished epoch(s) kept: run the same command with --resume"]
    return "; ".join(["interrupted: " + said, *kept, *resume])


def describe_os_error(error: OSError) -> str:
    """A failure of the computer (disk full, no permission) in a learner's words."""
    where = f" ({error.filename})" if error.filename else ""
    reason = error.strerror or os.strerror(error.errno or 0) or type(error).__name__
    return f"{reason}{where}: check that the disk has space and that you may write there"
