"""Saving and loading files so that nothing a learner made is lost or half-written.

Every file the course writes (checkpoints, dataset caches) goes through
:func:`save_atomically`: it is written to a temporary file in the same folder
and renamed over the target only when complete, so an interrupted save leaves
the previous file intact. :func:`load_tensors` reads with
``torch.load(..., weights_only=True)`` (no arbitrary code runs) and turns a
missing, foreign or corrupt file into a clear error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


class CorruptFileError(ValueError):
    """A file exists but is not a readable file of the expected kind."""


def save_atomically(obj, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
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


def load_tensors(path: str | os.PathLike, kind: str, required: tuple[str, ...] = ()) -> dict:
    """Load a dict saved by :func:`save_atomically` with ``weights_only=True``.

    ``kind`` names what the file should be (e.g. ``"checkpoint"``) and must equal
    the file's ``"kind"`` entry; ``required`` lists keys that must be present.
    Raises ``FileNotFoundError`` or :class:`CorruptFileError` with a message
    saying what is wrong and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise CorruptFileError(
            f"{path} is not a readable {kind} file ({type(error).__name__}): it is damaged, "
            f"cut short or of another kind; delete it and create it again"
        ) from None
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind") if isinstance(state, dict) else type(state).__name__
        raise CorruptFileError(
            f"{path} is not a {kind} file of this course (it holds {found!r}); "
            f"pass a file written by fewshot_utils"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CorruptFileError(
            f"{path} lacks {', '.join(missing)}: it is incomplete, create it again"
        )
    return state
