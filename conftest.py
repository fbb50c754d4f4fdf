"""Test-suite-wide set-up, for the unit tests in ``tests/`` and the notebooks under nbval.

Running the tests must leave the course as it was: notebook 01 saves a backbone to
``checkpoints/conv4.pt``, so for the whole session ``FEWSHOT_CHECKPOINTS`` points at a
temporary folder (the notebooks' kernels inherit it), removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_TEMPORARY = {}


def pytest_configure(config):
    folder = tempfile.mkdtemp(prefix="fewshot-checkpoints-")
    _TEMPORARY["checkpoints"] = folder
    _TEMPORARY["previous"] = os.environ.get("FEWSHOT_CHECKPOINTS")
    os.environ["FEWSHOT_CHECKPOINTS"] = folder


def pytest_unconfigure(config):
    folder = _TEMPORARY.pop("checkpoints", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    previous = _TEMPORARY.pop("previous", None)
    if previous is None:
        os.environ.pop("FEWSHOT_CHECKPOINTS", None)
    else:
        os.environ["FEWSHOT_CHECKPOINTS"] = previous
