"""What every benchmark script sets up before it imports torch and the package.

A script imports it first, as ``import _common`` (run as ``python benchmarks/NAME.py``,
the script's folder is on ``sys.path``). Importing it:

* sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already: idle OpenMP threads
  sleep instead of spinning, which matters on a shared 2-core machine (the README's
  thread notes). OpenMP reads it once, when torch loads, so it must come first;
* puts the clone's root (:data:`ROOT`) first on ``sys.path``, so that
  ``fewshot_utils`` and ``benchmarks`` import from this checkout, installed or not.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: The clone's root: the folder that holds ``fewshot_utils/`` and ``benchmarks/``.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
