"""``python -m fewshot_utils``: the course's command line (see :mod:`fewshot_utils.cli`)."""

import sys

from fewshot_utils.cli import main

sys.exit(main())
