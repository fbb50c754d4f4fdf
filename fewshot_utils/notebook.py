"""The first cell of every notebook: seeds, threads and figure style in one call."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def setup(seed: int = 0, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch; use ``threads`` CPU threads (default: up to 2).

    Two threads were fastest for pretraining on a 2-core machine; more threads than
    cores only adds waiting. Prints nothing, so a notebook's first cell stays quiet.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads or min(2, os.cpu_count() or 1))
    try:
        import matplotlib.pyplot as plt

        plt.rcParams.update({"figure.dpi": 90, "axes.grid": False, "image.cmap": "gray"})
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
