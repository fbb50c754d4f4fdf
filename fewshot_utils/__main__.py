"""``python -m fewshot_utils``: the course's command line (see :mod:`fewshot_utils.cli`)."""

import os
import sys

try:
    from fewshot_utils.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch loads: nothing has started
    print("\ninterrupted: nothing written", file=sys.stderr)
    sys.exit(130)

code = main()
if code == 130:
    # Interrupted, and the line saying what was kept is out. Leave at once: after an
    # interrupted computation Python's tidying-up takes seconds, and a Ctrl-C that
    # landed in code torch ran for Python can make it exit by SIGINT (-2) or with 0
    # instead of 130. Every file was closed (written whole) before this.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
