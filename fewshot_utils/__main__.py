"""``python -m fewshot_utils``: the course's command line (see :mod:`fewshot_utils.cli`)."""

import signal
import sys

try:
    from fewshot_utils.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch loads: nothing has started
    print("\ninterrupted: nothing written", file=sys.stderr)
    sys.exit(130)

code = main()
# The work is over: a second Ctrl-C while Python tidies up would only print a traceback.
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
