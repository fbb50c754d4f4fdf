"""Figures of cosine similarity: feature lengths, similarity matrices, nearest neighbours.

The numbers come from :mod:`fewshot_utils.fewshot.inspection`; the cosine demo's state
from :func:`fewshot_utils.widgets.cosine.cosine_demo_state`.

* :func:`norm_spread_figure`: how long feature vectors are, and why that says little;
* :func:`similarity_matrices_figure`: raw inner products ``F Fᵀ`` against cosines ``F̂ F̂ᵀ``;
* :func:`nearest_neighbours_figure`: each query's most similar drawings;
* :func:`cosine_demo_figure`: two 2-D vectors, their cosine, and a softmax over prototypes.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.cosine_similarity import cosine_similarity_matrix
from fewshot_utils.fewshot.inspection import (
    SIMILARITY_MEASURES,
    Neighbours,
    block_similarities,
    correlation,
    feature_norms,
    ink,
    inner_product_matrix,
)
from fewshot_utils.viz.style import (
    RIGHT,
    WRONG,
    frame_axis,
    mosaic,
    new_figure,
    series_colour,
    show_image,
)


def norm_spread_figure(
    features: torch.Tensor, images: torch.Tensor, examples: int = 6, points: int = 3000
) -> Figure:
    """Three panels: the histogram of ``|f(x)|``, ``|f(x)|`` against ink, and the extremes.

    ``features [I, d]`` and ``images uint8 [I, H, W]`` of one split. The scatter
    shows at most ``points`` images (a fixed random subset); the right panel shows
    the ``examples`` images with the shortest and the longest feature vectors.
    """
    norms, amount = feature_norms(features), ink(images)
    order = norms.argsort()
    shortest, longest = order[:examples], order.flip(0)[:examples]
    subset = torch.randperm(len(norms), generator=torch.Generator().manual_seed(0))[:points]

    fig = new_figure(figsize=(12, 3.4), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.25])
    ax = fig.add_subplot(grid[0])
    ax.hist(norms.cpu().numpy(), bins=50, color=series_colour(4))
    ax.set_xlabel("feature length |f(x)|")
    ax.set_ylabel("drawings")
    ratio = float(norms.quantile(0.95) / norms.quantile(0.05))
    ax.set_title(f"lengths vary: 95th / 5th percentile = {ratio:.1f}x", fontsize=10)

    ax = fig.add_subplot(grid[1])
    ax.scatter(amount[subset].cpu().numpy(), norms[subset].cpu().numpy(), s=3, alpha=0.4)
    ax.set_xlabel("ink (mean brightness of the image)")
    ax.set_ylabel("|f(x)|")
    ax.set_title(f"correlation with ink: {correlation(amount, norms):+.2f}", fontsize=10)

    ax = fig.add_subplot(grid[2])
    size = images.shape[-1]
    show_image(ax, mosaic(torch.stack([images[shortest], images[longest]])))
    ax.set_yticks([size / 2 + 2, 1.5 * size + 4], ["shortest", "longest"])
    ax.set_title(f"the {examples} shortest and longest feature vectors", fontsize=10)
    return fig


def similarity_matrices_figure(
    features: torch.Tensor, images: torch.Tensor, indices: torch.Tensor
) -> Figure:
    """The drawings, then their raw inner products ``F Fᵀ`` and cosine similarities ``F̂ F̂ᵀ``.

    ``features [I, d]`` and ``images [I, H, W]`` of a split; ``indices [C, D]``
    (from :func:`pick_class_drawings`): row ``c`` holds class ``c``'s drawings.
    The matrices list the images class by class (row-major), so same-class pairs
    form ``D x D`` blocks on the diagonal; white lines separate the classes. The titles
    give the mean same-class and different-class similarity (:func:`block_similarities`).
    """
    classes, drawings = indices.shape
    chosen = features[indices.flatten()]
    means = block_similarities(features, indices)
    matrices = [
        ("raw inner product  f(x)·f(y)", inner_product_matrix(chosen)),
        ("cosine similarity  cos(f(x), f(y))", cosine_similarity_matrix(chosen, chosen)),
    ]
    fig = new_figure(figsize=(13, 4.2), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[0.8, 1, 1])
    show_image(fig.add_subplot(grid[0]), mosaic(images[indices]), "the drawings (one class a row)")
    for column, ((title, matrix), measure) in enumerate(
        zip(matrices, SIMILARITY_MEASURES, strict=True), start=1
    ):
        ax = fig.add_subplot(grid[column])
        shown = ax.imshow(matrix.cpu().numpy(), cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.85)
        for boundary in range(1, classes):
            ax.axhline(boundary * drawings - 0.5, color="white", linewidth=1)
            ax.axvline(boundary * drawings - 0.5, color="white", linewidth=1)
        ticks = [c * drawings + (drawings - 1) / 2 for c in range(classes)]
        ax.set_xticks(ticks, [f"class {c}" for c in range(classes)], fontsize=8)
        ax.set_yticks(ticks, [f"class {c}" for c in range(classes)], fontsize=8)
        within, between = means[measure]
        ax.set_title(f"{title}\nsame class {within:.2f}, different {between:.2f}", fontsize=10)
    return fig


def nearest_neighbours_figure(
    images: torch.Tensor, labels: torch.Tensor, neighbours: Neighbours
) -> Figure:
    """One row per query: the query, then its neighbours with their cosine similarity.

    A neighbour is framed green when it is a drawing of the query's class, red when not.
    """
    count, k = neighbours.indices.shape
    fig = new_figure(figsize=(1.25 * (k + 1) + 0.4, 1.45 * count), layout="constrained")
    axes = fig.subplots(count, k + 1, squeeze=False)
    for row in range(count):
        query = int(neighbours.queries[row])
        show_image(axes[row, 0], images[query], "query", fontsize=9, fontweight="bold")
        frame_axis(axes[row, 0], "black")
        for col in range(k):
            index = int(neighbours.indices[row, col])
            same = bool(labels[index] == labels[query])
            ax = axes[row, col + 1]
            cos = float(neighbours.similarities[row, col])
            show_image(ax, images[index], f"cos {cos:.2f}", fontsize=9)
            frame_axis(ax, RIGHT if same else WRONG)
    return fig


def cosine_demo_figure(state: dict) -> Figure:
    """Left: ``a``, ``b`` and the prototypes as arrows; right: the two softmaxes for query ``a``."""
    fig = new_figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.1])

    reach = 1.15 * max(3.0, state["norm_a"], state["norm_b"])
    circle = np.linspace(0, 2 * np.pi, 200)
    left.plot(np.cos(circle), np.sin(circle), ":", color="grey", linewidth=1)
    for n, m in enumerate(state["prototypes"].tolist()):
        left.annotate("", xy=m, xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "grey"})
        left.text(1.3 * m[0], 1.3 * m[1], f"$m_{n}$", color="grey", ha="center", va="center")
    for name, color in (("a", series_colour(2)), ("b", series_colour(3))):
        tip = state[name].tolist()
        left.annotate(
            "", xy=tip, xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2}
        )
        left.text(1.08 * tip[0], 1.08 * tip[1], f"${name}$", color=color, fontsize=14)
    left.set_xlim(-reach, reach)
    left.set_ylim(-reach, reach)
    left.set_aspect("equal")
    left.axhline(0, color="lightgrey", linewidth=0.8, zorder=0)
    left.axvline(0, color="lightgrey", linewidth=0.8, zorder=0)
    left.set_title(
        f"|a| = {state['norm_a']:.2f}, |b| = {state['norm_b']:.2f}, "
        f"angle = {state['angle']:.0f}°\n"
        f"a·b = {state['inner_product']:.2f},   cos(a, b) = {state['cosine']:.3f}",
        fontsize=10,
    )

    count = len(state["prototypes"])
    positions = np.arange(count)
    width = 0.38
    for offset, key, label, color in (
        (-width / 2, "p_cosine", f"softmax({state['scale']:g} · cos(a, $m_n$))", series_colour(2)),
        (width / 2, "p_inner", "softmax(a·$m_n$)  (raw inner product)", series_colour(3)),
    ):
        values = state[key].cpu().numpy()
        bars = right.bar(positions + offset, values, width, label=label, color=color)
        right.bar_label(bars, fmt="%.2f", fontsize=8)
    right.set_xticks(positions, [f"$m_{n}$" for n in range(count)])
    right.set_ylim(0, 1.4)  # room above the bars for the legend
    right.set_yticks(np.linspace(0, 1, 6))
    right.set_ylabel("probability")
    right.set_title("a as a query: probabilities over the prototypes", fontsize=10)
    right.legend(fontsize=8, loc="upper center")
    return fig
