"""Saving and loading files so that nothing a learner made is lost or half-written.

Every file the course writes (checkpoints, dataset caches) goes through
:func:`save_atomically`: it is written to a temporary file in the same folder
and renamed over the target only when complete, so an interrupted save leaves
the previous file intact. :func:`load_tensors` reads with
``torch.load(..., weights_only=True)`` (no arbitrary code runs) and turns a
missing, foreign or corrupt file into a clear error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

import torch

from fewshot_utils.validation import check_file_to_read, check_output_file


class CorruptFileError(ValueError):
    """A file exists but is not a readable file of the expected kind."""


@contextlib.contextmanager
def _ctrl_c_after_the_write():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block is done.

    A ``KeyboardInterrupt`` raised inside ``torch.save`` can make its zip writer fail in
    turn (``RuntimeError: ... unexpected pos``) and hide the Ctrl-C behind another error.
    So the write and the rename finish first, and the Ctrl-C is raised right after: the
    file is then whole, and the program stops as the learner asked. Only the main thread
    receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _write_atomically(path: str | os.PathLike, write) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``
    (a Ctrl-C meanwhile takes effect once the file is in place)."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _ctrl_c_after_the_write():
        return _write_file(path, write)


def _write_file(path: Path, write) -> Path:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from others
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_atomically(obj, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` via a temporary file and an atomic rename.

    Raises :class:`~fewshot_utils.validation.InputError` before writing anything when
    ``path`` cannot be written (a folder, under a file, no permission)."""
    return _write_atomically(path, lambda file: torch.save(obj, file))


def write_text_atomically(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and an atomic rename."""
    return _write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def _described(state) -> str:
    """What a loaded file holds, in a learner's words (for an error message)."""
    if isinstance(state, dict) and "kind" in state:
        return f"a {state['kind']!r} file"
    if isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values()):
        return "a plain PyTorch state_dict (weights only, no preprocessing or history)"
    if isinstance(state, dict):
        keys = ", ".join(repr(key) for key in list(state)[:4])
        return f"a dict of {keys}{', ...' if len(state) > 4 else ''}" if state else "an empty dict"
    return f"a {type(state).__name__}"


def load_tensors(
    path: str | os.PathLike, kind: str, required: tuple[str, ...] = (), hint: str = ""
) -> dict:
    """Load a dict saved by :func:`save_atomically` with ``weights_only=True``.

    ``kind`` names what the file should be (e.g. ``"fewshot-checkpoint"``) and must
    equal the file's ``"kind"`` entry; ``required`` lists keys that must be present;
    ``hint`` is added to a missing file's message (how to get one). Raises
    ``FileNotFoundError`` (no such file) or :class:`CorruptFileError` (a folder, an
    empty, damaged, cut-short or foreign file) with a message saying what to do.
    """
    path = Path(path)
    hint = f"; {hint}" if hint else ""
    check_file_to_read(
        path,
        folder=CorruptFileError(
            f"{path} is a folder, not a {kind} file: give the file itself{hint}"
        ),
        missing=FileNotFoundError(f"no {kind} file at {path}: check the path{hint}"),
        empty=CorruptFileError(
            f"{path} is empty (0 bytes), not a {kind} file: it was not written completely; "
            "delete it and create it again"
        ),
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise CorruptFileError(f"cannot read {path}: you have no permission to read it") from None
    except Exception:  # torch raises many types for a damaged file
        raise CorruptFileError(
            f"{path} is not a readable {kind} file: it is damaged, cut short or of another "
            "kind (only files saved by fewshot_utils load, and never code); delete it and "
            "create it again"
        ) from None
    if not isinstance(state, dict) or state.get("kind") != kind:
        raise CorruptFileError(
            f"{path} is not a {kind} file of this course: it holds {_described(state)}; "
            "pass a file written by fewshot_utils"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CorruptFileError(
            f"{path} lacks {', '.join(missing)}: it is incomplete, delete it and create it again"
        )
    return state
