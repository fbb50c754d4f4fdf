"""Figures of images: a grid, an episode, pairs, a support folder.

* :func:`image_grid`: a grid of images, optionally titled;
* :func:`episode_figure`: one N-way K-shot episode, its support set one row per
  class and its queries beside it;
* :func:`pairs_figure`: pairs of images, labelled "same" or "different";
* :func:`support_figure`: a support folder of your own, as on disk or as the backbone
  sees it.

Images are ``[I, H, W]`` tensors or arrays: ``uint8`` (0..255) or floats (shown
with their own range).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import load_image, open_image
from fewshot_utils.fewshot.evaluation import setting_name
from fewshot_utils.viz.style import new_figure, show_image, wrap


def image_grid(
    images,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.0,
) -> Figure:
    """Show ``images`` (``[I, H, W]``) in a grid of ``ncols`` columns (default: up to 10).

    ``titles``: one per image (optional; long ones are wrapped, underscores shown as
    spaces); ``title``: the figure's title;
    ``size``: inches per image. One axes per image, in reading order.
    """
    count = len(images)
    if count == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} images: give one per image")
    ncols = min(count, ncols or 10)
    nrows = math.ceil(count / ncols)
    lines = max((wrap(t, size).count("\n") + 1 for t in titles), default=0) if titles else 0
    extra = 0.15 * lines
    fig = new_figure(figsize=(size * ncols, (size + extra) * nrows + (0.4 if title else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < count:
            caption = None if titles is None else wrap(titles[i], size)
            show_image(ax, images[i], caption, fontsize=8)
        else:
            fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def episode_figure(
    images,
    episodes,
    episode: int = 0,
    class_names: Sequence[str] | None = None,
    queries_per_class: int = 3,
    reveal: bool = True,
    seed: int = 0,
    size: float = 0.9,
) -> Figure:
    """One episode: the support set (one row per class, ``K`` shots) and some of its queries.

    ``images``: the split's images ``[I, H, W]``; ``episodes``: an
    :class:`~fewshot_utils.fewshot.episodes.Episodes`; ``episode``: which one;
    ``class_names``: the split's class names (the row labels show the episode
    label ``n`` and the class name); ``queries_per_class``: how many of each
    class's queries to show (at most ``Q``), shuffled so that their position
    gives nothing away; ``reveal``: title each query with its true class
    (the classifier never sees it; it is only used to score the answer).

    Draws ``N·K`` support images and ``N·min(queries_per_class, Q)`` query images.
    """
    support = episodes.support[episode]  # [N, K]
    query = episodes.query[episode]  # [N, Q]
    classes = episodes.classes[episode]  # [N]
    ways, shots = support.shape
    shown = max(1, min(queries_per_class, query.shape[1]))
    query_index = query[:, :shown].reshape(-1)
    query_label = torch.arange(ways).repeat_interleave(shown)
    order = torch.randperm(len(query_index), generator=torch.Generator().manual_seed(seed))
    query_index, query_label = query_index[order], query_label[order]

    # Layout in inches: a label margin on the left, rows of images with room for the
    # query titles, a header line on top.
    gap, left, top, row = 0.5, 2.1, 0.75, 1.3
    width = left + size * (shots + gap + shown) * 1.1 + 0.1
    height = top + size * ways * row + 0.1
    fig = new_figure(figsize=(width, height))
    grid = fig.add_gridspec(
        ways,
        shots + 1 + shown,
        width_ratios=[1] * shots + [gap] + [1] * shown,
        left=left / width,
        right=1 - 0.1 / width,
        top=1 - top / height,
        bottom=0.1 / height,
        wspace=0.1,
        hspace=0.35,
    )
    support_axes, query_axes = [], []
    for n in range(ways):
        for k in range(shots):
            ax = fig.add_subplot(grid[n, k])
            support_axes.append(ax)
            show_image(ax, images[int(support[n, k])])
            if k == 0:
                name = ""
                if class_names is not None:
                    name = "\n" + class_names[int(classes[n])].replace("/", "\n")
                ax.set_ylabel(f"class {n}{name}", rotation=0, ha="right", va="center", fontsize=8)
        for j in range(shown):
            i = n * shown + j
            ax = fig.add_subplot(grid[n, shots + 1 + j])
            query_axes.append(ax)
            title = f"is {int(query_label[i])}" if reveal else "?"
            show_image(ax, images[int(query_index[i])], title, fontsize=7)
    header_y = 1 - 0.45 / height
    for first, last, text in (
        (support_axes[0], support_axes[shots - 1], f"support set: {shots} per class"),
        (query_axes[0], query_axes[shown - 1], "queries" + (" (true class)" if reveal else "")),
    ):
        centre = (first.get_position().x0 + last.get_position().x1) / 2
        fig.text(centre, header_y, text, ha="center", va="center", fontsize=9)
    fig.suptitle(
        f"{setting_name(ways, shots)} episode",
        x=0.01,
        y=1 - 0.08 / height,
        ha="left",
        va="top",
        fontsize=10,
        fontweight="bold",
    )
    return fig


def pairs_figure(images, pairs, count: int = 8, size: float = 1.0) -> Figure:
    """The first ``count`` pairs as two rows (first image above, second below), each column
    titled "same" or "different". ``pairs``: a :class:`~fewshot_utils.training.siamese.Pairs`."""
    count = min(count, len(pairs))
    if count == 0:
        raise ValueError("pairs_figure needs at least one pair")
    fig = new_figure(figsize=(size * count, 2 * size + 0.4))
    axes = fig.subplots(2, count, squeeze=False)
    for j in range(count):
        same = bool(pairs.same[j] > 0.5)
        show_image(
            axes[0, j], images[int(pairs.first[j])], "same" if same else "different", fontsize=8
        )
        show_image(axes[1, j], images[int(pairs.second[j])])
    fig.tight_layout()
    return fig


def support_figure(
    support_dir: str | os.PathLike, query_files=(), preprocessing=None, size: float = 1.1
) -> Figure:
    """One row per class (and one for the queries): the images of a support folder.

    With ``preprocessing`` (a backbone's :class:`~fewshot_utils.models.conv4.Preprocessing`)
    each image is shown as the backbone sees it (:func:`fewshot_utils.data.images.load_image`:
    grey, inverted, ``image_size`` pixels); without, as it is on disk.
    """
    class_names, paths = read_class_folders(support_dir)
    rows = [(name, list(files)) for name, files in zip(class_names, paths, strict=True)]
    if query_files:
        rows.append(("queries", [Path(path) for path in query_files]))
    cols = max(len(files) for _, files in rows)
    fig = new_figure(figsize=(size * cols + 1.2, size * len(rows)), layout="constrained")
    axes = np.asarray(fig.subplots(len(rows), cols, squeeze=False))
    for r, (name, files) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(files):
                continue
            if preprocessing is None:
                show_image(ax, open_image(files[c], "RGB"))
            else:
                show_image(ax, load_image(files[c], preprocessing.image_size, preprocessing.invert))
            ax.axis("on")
            if r == len(rows) - 1 and query_files:
                ax.set_title(files[c].name, fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    return fig
