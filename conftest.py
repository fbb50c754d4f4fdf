"""Test-suite-wide set-up, for the unit tests in ``tests/`` and the notebooks under nbval.

Running the tests must leave the course as it was:

* notebook 01 saves a backbone to ``checkpoints/conv4.pt``, so for the whole session
  ``FEWSHOT_CHECKPOINTS`` points at a temporary folder (the notebooks' kernels inherit
  it), removed at the end;
* at the end, ``git status`` must list nothing that it did not list at the start, but
  for the caches under ``data/`` (datasets, features), virtualenvs and Python's caches
  (:data:`ALLOWED`). Otherwise the session fails and names what changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

_TEMPORARY: dict = {}
ROOT = Path(__file__).resolve().parent

#: What the tests may leave behind: ignored caches a learner's own run makes too.
ALLOWED = re.compile(
    r'^!! "?(data/(omniglot-py|glyphs|folders|features)/|\.venv/|\.ci-venv/|\.ruff_cache/'
    r"|\.pytest_cache/|(.*/)?__pycache__/|[^/]*\.egg-info/)"
)


def working_tree() -> set[str] | None:
    """``git status`` of the repository, less :data:`ALLOWED` (``None``: not a git clone)."""
    try:
        listed = subprocess.run(
            ["git", "status", "--porcelain", "--ignored"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line for line in listed.splitlines() if line and not ALLOWED.match(line)}


def pytest_configure(config):
    folder = tempfile.mkdtemp(prefix="fewshot-checkpoints-")
    _TEMPORARY["checkpoints"] = folder
    _TEMPORARY["previous"] = os.environ.get("FEWSHOT_CHECKPOINTS")
    os.environ["FEWSHOT_CHECKPOINTS"] = folder
    if not hasattr(config, "workerinput"):  # once, in the main process
        _TEMPORARY["tree"] = working_tree()


def pytest_sessionfinish(session, exitstatus):
    before = _TEMPORARY.get("tree")
    after = working_tree()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"    {line}" for line in new)
        message = f"the tests changed the working tree (git status --porcelain --ignored):\n{lines}"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)
        session.exitstatus = 1


def pytest_unconfigure(config):
    folder = _TEMPORARY.pop("checkpoints", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    previous = _TEMPORARY.pop("previous", None)
    if previous is None:
        os.environ.pop("FEWSHOT_CHECKPOINTS", None)
    else:
        os.environ["FEWSHOT_CHECKPOINTS"] = previous
