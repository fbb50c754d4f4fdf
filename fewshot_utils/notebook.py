"""What a notebook imports first: its set-up, and everything it needs before the lesson starts.

The first code cell of every notebook is::

    from fewshot_utils.notebook import setup

    setup(seed=0)

Importing :mod:`fewshot_utils` (which this does) sets the thread policy *before* torch
loads (:mod:`fewshot_utils.runtime`), so it must come before ``import torch``.
:func:`setup` seeds Python, NumPy and torch, chooses the number of threads and the device
(a CUDA GPU, else Apple MPS, else the CPU: :mod:`fewshot_utils.devices`) and turns on
inline figures. The device becomes the default of everything below that has nothing
else to follow: ``find_backbone`` puts f(x) there, ``pretrain`` trains there, and the
features, episodes and classifiers follow f(x).

Then, from the package's lower layers, what every lesson needs:

* :func:`load_dataset`: base and novel classes (Omniglot, the offline Glyphs, or your own
  folders, ``"folder:PATH"``);
* :func:`find_backbone`: the shipped backbone, or your own (``find_backbone("mine")``);
* :func:`split_features`: f(x) of a whole split, computed once per backbone and cached;
* :func:`embed`: f(x) of any images.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.devices import choose_device, describe_device, set_default_device
from fewshot_utils.models.checkpoints import find_backbone
from fewshot_utils.models.conv4 import embed
from fewshot_utils.models.features import split_features
from fewshot_utils.paths import own_checkpoint
from fewshot_utils.runtime import release_freed_memory
from fewshot_utils.validation import check

__all__ = ["embed", "find_backbone", "load_dataset", "own_checkpoint", "setup", "split_features"]


def setup(seed: int = 0, threads: int | None = None, device: str = "auto") -> torch.device:
    """Seed Python, NumPy and torch; use ``threads`` CPU threads (default: up to 2); choose
    the ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``) and return it.

    Two threads were fastest for pretraining on an idle 2-core machine; one thread
    is faster for the small fine-tuning loops and on a shared machine (see the
    README). The device is made the package's default
    (:func:`fewshot_utils.devices.set_default_device`). Inside Jupyter it also turns on
    inline figures. On a CPU it prints nothing (so the notebooks read the same as
    before); on a GPU or MPS it prints one line saying which.
    """
    seed = check("seed", seed)
    threads = min(2, os.cpu_count() or 1) if threads is None else check("threads", threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    chosen = set_default_device(choose_device(device, announce=False))
    if chosen.type != "cpu":
        print(f"Device: {describe_device(chosen)}")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 90, "axes.grid": False, "image.cmap": "gray"})
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return chosen
    shell = get_ipython()
    if shell is not None:
        # Figures returned by the package's functions are shown as pictures, not
        # as "<Figure size ... with N Axes>".
        shell.run_line_magic("matplotlib", "inline")
        hand_back_memory_after_each_cell(shell)
    return chosen


def hand_back_memory_after_each_cell(shell) -> None:
    """After every cell, hand the memory freed inside the kernel back to the system.

    ``import fewshot_utils`` lets the process keep freed blocks for reuse (fast
    pretraining, :func:`fewshot_utils.runtime.reuse_freed_memory`); in a notebook that
    would let each cell's temporary tensors add up, so that the kernel's peak is the sum
    of many cells' instead of the largest one's. Registered once per kernel."""
    callbacks = shell.events.callbacks.get("post_run_cell", [])
    if release_freed_memory_after_cell not in callbacks:
        shell.events.register("post_run_cell", release_freed_memory_after_cell)


def release_freed_memory_after_cell(result=None) -> None:
    """``post_run_cell`` callback: :func:`fewshot_utils.runtime.release_freed_memory`."""
    release_freed_memory()
