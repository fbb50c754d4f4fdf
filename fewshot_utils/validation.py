"""One rule for every number and path a learner gives, checked before any work starts.

The command line (its argparse ``type=`` functions) and the public functions that the
notebooks call (``sample_episodes``, ``FineTuning``, ``PretrainingConfig``, ``evaluate``,
``run_benchmark``, ``predict``, ...) check a learner's numbers with the same rules,
:data:`RULES`: :func:`check` returns the number (a whole number as an ``int``) or raises
:class:`InputError` saying what was wrong, the value given and how to fix it::

    ways must be a whole number >= 2, got 1: an episode compares at least two classes
    (the course uses 5 or 20)

NaN and infinity are never accepted, nor ``True``/``False`` or text where a number is
meant; ``5.0`` counts as the whole number 5.

Paths: :func:`check_output_file` (a file about to be written: not a folder, its folder a
folder that exists or can be made, and writable), :func:`check_input_file` and
:func:`check_folder`; :func:`check_file_to_read`, the checks of every file read,
with the caller's errors. They look, and create nothing.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path


class InputError(ValueError):
    """A learner's input that cannot work; the message says what to change."""


@dataclass(frozen=True)
class Rule:
    """What a number must be: ``whole`` or any real; ``least <= x`` (inclusive),
    ``above < x`` (exclusive), ``x <= most``; ``hint`` says what is usual."""

    whole: bool = False
    least: float | None = None
    above: float | None = None
    most: float | None = None
    hint: str = ""

    def describe(self) -> str:
        """``"a whole number from 1 to 1000"``, ``"> 0 and <= 10"``, ``">= 0"``, ..."""
        kind = "a whole number" if self.whole else "a number"
        if self.least is not None and self.most is not None:
            return f"{kind} from {_show(self.least)} to {_show(self.most)}"
        parts = []
        if self.least is not None:
            parts.append(f">= {_show(self.least)}")
        if self.above is not None:
            parts.append(f"> {_show(self.above)}")
        if self.most is not None:
            parts.append(f"<= {_show(self.most)}")
        if not parts:
            return kind
        return " and ".join(parts) if not self.whole else f"{kind} {' and '.join(parts)}"


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


#: The course's numbers: name -> rule. The command line's flags are these names.
RULES: dict[str, Rule] = {
    "ways": Rule(True, least=2, hint="an episode compares two classes or more (the course: 5, 20)"),
    "shots": Rule(True, least=1, hint="each class needs a support image (the course: 1 or 5)"),
    "queries": Rule(True, least=1, hint="each class needs a query to score (the course: 15)"),
    "episodes": Rule(True, least=1, most=100_000, hint="the course uses 1000"),
    "epochs": Rule(True, least=1, most=1000, hint="the course pretrains for 20"),
    "steps": Rule(True, least=0, most=10_000, hint="0 keeps the start; the course uses 100"),
    "batch_size": Rule(True, least=1, most=4096, hint="the course uses 128"),
    "seed": Rule(True, least=0, most=2**32 - 1, hint="e.g. 0"),
    "chunk_size": Rule(True, least=1, hint="or None to choose it from the memory it needs"),
    "image_size": Rule(True, least=8, most=512, hint="the course uses 28"),
    "lr": Rule(
        above=0,
        most=10,
        hint=(
            "Adam's step size; the course uses 3e-3 for pretraining and 0.3 for fine-tuning "
            "(0.1 with all three tricks)"
        ),
    ),
    "entropy_weight": Rule(
        least=0,
        hint="0 turns the entropy term off; the course uses 0.03 (0.1 with all three tricks)",
    ),
    "scale": Rule(above=0, most=1000, hint="the cosine classifier's s; the course uses 10 or 20"),
}


def threads_rule() -> Rule:
    """Threads: from 1 to the cores of this computer (more only wait for each other)."""
    cores = available_cores()
    return Rule(True, least=1, most=cores, hint=f"this computer has {cores} CPU core(s)")


def rule(name: str) -> Rule:
    return threads_rule() if name == "threads" else RULES[name]


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _given(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_number(value, name: str, number_rule: Rule) -> int | float:
    """``value`` as an ``int`` (whole rules) or ``float``, or :class:`InputError`."""
    problem = f"{name} must be {number_rule.describe()}, got {_given(value)}"
    if number_rule.hint:
        problem += f": {number_rule.hint}"
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a 0-d tensor or NumPy scalar
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(problem)
    number = float(value)
    if not math.isfinite(number):
        raise InputError(problem)
    if number_rule.whole:
        if not isinstance(value, numbers.Integral) and not number.is_integer():
            raise InputError(problem)
        number = int(value) if isinstance(value, numbers.Integral) else int(number)
    if number_rule.least is not None and number < number_rule.least:
        raise InputError(problem)
    if number_rule.above is not None and number <= number_rule.above:
        raise InputError(problem)
    if number_rule.most is not None and number > number_rule.most:
        raise InputError(problem)
    return number


def check(name: str, value, shown: str | None = None) -> int | float:
    """Check ``value`` against ``RULES[name]`` (``"threads"``: :func:`threads_rule`);
    ``shown`` names it in the message (default ``name``)."""
    return check_number(value, shown or name, rule(name))


def check_choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``, else :class:`InputError` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {_given(value)}")
    return value


def check_flag(value, name: str) -> bool:
    """``True`` or ``False`` (not 1, "yes" or None)."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {_given(value)}")
    return value


# ----------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_folder(path: str | os.PathLike, what: str = "folder", writable: bool = True) -> Path:
    """A folder that exists, or that can be created (its nearest existing parent is a
    folder), and that this user may write in when ``writable``."""
    path = Path(path)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        where = "it" if existing == path else f"{existing}"
        raise InputError(
            f"{what} {path} cannot be used: {where} is a file, not a folder; "
            "give a folder (or a new name) instead"
        )
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write in {what} {path}: you have no permission to write in {existing}; "
            "choose a folder of your own (e.g. under your home folder)"
        )
    return path


def check_output_file(
    path: str | os.PathLike, what: str = "output file", example: str = "name"
) -> Path:
    """A file that can be written: not a folder, inside a folder that exists or can be
    created (no file in the way) and that this user may write in. Creates nothing.
    ``example``: a file name to suggest inside a folder given instead of a file."""
    path = Path(path)
    if path.is_dir() or str(path) in ("", "."):
        raise InputError(
            f"{what} {path} is a folder: give a file name inside it, e.g. {path / example}"
        )
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise InputError(
            f"cannot write {what} {path}: {existing} is a file, not a folder; "
            "choose another place or rename that file"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write {what} {path}: you have no permission to write in {existing}; "
            "choose a folder of your own (e.g. under your home folder)"
        )
    return path


def check_file_to_read(
    path: Path,
    *,
    folder: Exception,
    missing: Exception,
    empty: Exception,
    unreadable: Exception | None = None,
) -> None:
    """Raise the error for the first thing that keeps ``path`` from being a file to read.

    In this order: ``folder`` (``path`` is a folder), ``missing`` (no file there),
    ``unreadable`` (only if given: this user may not read it), ``empty`` (0 bytes). The
    checks are the same for every file the course reads; each caller words the errors
    for its own kind of file (an image, a checkpoint, a learner's input).
    """
    if path.is_dir():
        raise folder
    if not path.is_file():
        raise missing
    if unreadable is not None and not os.access(path, os.R_OK):
        raise unreadable
    if path.stat().st_size == 0:
        raise empty


def check_input_file(path: str | os.PathLike, what: str = "file", hint: str = "") -> Path:
    """A file that exists, is not a folder, can be read, and is not empty."""
    path = Path(path)
    hint = f"; {hint}" if hint else ""
    check_file_to_read(
        path,
        folder=InputError(f"{what} {path} is a folder, not a file: give a file inside it{hint}"),
        missing=InputError(f"{what} {path} does not exist: check the path{hint}"),
        unreadable=InputError(f"cannot read {what} {path}: you have no permission to read it"),
        empty=InputError(
            f"{what} {path} is empty (0 bytes): it was not saved or copied completely{hint}"
        ),
    )
    return path
