"""The first cell of every notebook: seeds, threads and figure style in one call."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def setup(seed: int = 0, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch; use ``threads`` CPU threads (default: up to 2).

    Two threads were fastest for pretraining on an idle 2-core machine; one thread
    is faster for the small fine-tuning loops and on a shared machine (see the
    README). Inside Jupyter it also turns on inline figures. Prints nothing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads or min(2, os.cpu_count() or 1))
    try:
        import matplotlib.pyplot as plt

        plt.rcParams.update({"figure.dpi": 90, "axes.grid": False, "image.cmap": "gray"})
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is not None:
        # Figures returned by the package's functions are shown as pictures, not
        # as "<Figure size ... with N Axes>".
        shell.run_line_magic("matplotlib", "inline")
