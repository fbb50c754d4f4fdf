"""``python -m fewshot_utils``: the course's command line (see :mod:`fewshot_utils.cli`)."""

import sys

try:
    from fewshot_utils.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch loads: nothing has started
    print("\ninterrupted: nothing written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
