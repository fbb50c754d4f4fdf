"""Looking inside: what cosine similarity and the prototype classifier do on real features.

The numbers of the course (an accuracy, a confidence interval) say *how well*;
this module shows *what happens*, on the cached features ``[I, d]`` of a split
(:func:`fewshot_utils.backbone.embed`) and its ``uint8 [I, H, W]`` images:

* feature lengths: :func:`feature_norms`, :func:`ink`, :func:`norm_spread_figure`
  (why features are normalised before they are compared);
* similarity matrices: :func:`pick_class_drawings`, :func:`within_between`,
  :func:`similarity_matrices_figure` (raw inner product ``F Fᵀ`` against cosine ``F̂ F̂ᵀ``);
* nearest neighbours by cosine: :func:`nearest_neighbours`,
  :func:`nearest_neighbour_accuracy`, :func:`nearest_neighbours_figure`;
* the prototype classifier's mistakes: :func:`wrong_queries`, :func:`wrong_queries_figure`;
* accuracy against ways and shots: :func:`accuracy_sweep`, :func:`accuracy_sweep_figure`.

Figures are ``matplotlib.figure.Figure`` objects made without ``pyplot``: a
notebook shows the one a cell returns, and nothing piles up in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm.auto import tqdm

from fewshot_utils.cosine_similarity import cosine_similarity_matrix, l2_normalize
from fewshot_utils.episodes import Episodes, sample_episodes
from fewshot_utils.evaluation import episode_features, evaluate
from fewshot_utils.prototypes import prototype_probabilities, prototypes

RIGHT = "tab:green"
WRONG = "tab:red"

# ----------------------------------------------------------------------------
# Drawing many small images at once
# ----------------------------------------------------------------------------


def mosaic(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Tile ``uint8 [R, C, H, W]`` images into one ``[R·(H+pad)+pad, C·(W+pad)+pad]`` array.

    One ``imshow`` of the mosaic is much faster than ``R·C`` small axes. Tiles
    are separated by ``pad`` pixels of mid grey, so dark backgrounds stay apart.
    """
    images = torch.as_tensor(images)
    if images.dim() != 4:
        raise ValueError(f"mosaic needs images [R, C, H, W], got shape {tuple(images.shape)}")
    rows, cols, height, width = images.shape
    canvas = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad), 110, np.uint8)
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[top : top + height, left : left + width] = images[r, c].numpy()
    return canvas


def frame_tile(ax, row: int, col: int, size: int, color: str, pad: int = 2, cols: int = 1) -> None:
    """Draw a coloured frame around tiles ``(row, col) .. (row, col + cols - 1)`` of a mosaic."""
    step = size + pad
    ax.add_patch(
        Rectangle(
            (col * step + pad / 2 - 0.5, row * step + pad / 2 - 0.5),
            cols * step,
            step,
            fill=False,
            edgecolor=color,
            linewidth=2.5,
        )
    )


def show_image(ax, image: np.ndarray | torch.Tensor, title: str | None = None, **title_kw) -> None:
    """Show one ``uint8`` image (or mosaic) in grey on ``ax``, without ticks."""
    ax.imshow(np.asarray(image), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, **title_kw)


def frame_axis(ax, color: str, width: float = 3.0) -> None:
    """Colour the border of ``ax`` (green: right, red: wrong)."""
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


# ----------------------------------------------------------------------------
# Feature lengths: why normalise
# ----------------------------------------------------------------------------


def feature_norms(features: torch.Tensor) -> torch.Tensor:
    """``|f(x)|``, the Euclidean length of every feature vector: ``[I, d] -> [I]``."""
    return features.norm(dim=-1)


def ink(images: torch.Tensor) -> torch.Tensor:
    """How much stroke an image holds: its mean brightness in ``[0, 1]``, ``[I, H, W] -> [I]``.

    Strokes are bright on a dark background, so a long or thick drawing has more ink.
    """
    return images.to(torch.float32).mean(dim=(-2, -1)) / 255.0


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson's correlation of two ``[I]`` tensors: +1 when one grows exactly with the other."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12))


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

    fig = Figure(figsize=(12, 3.4), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.25])
    ax = fig.add_subplot(grid[0])
    ax.hist(norms.numpy(), bins=50, color="tab:blue")
    ax.set_xlabel("feature length |f(x)|")
    ax.set_ylabel("drawings")
    ratio = float(norms.quantile(0.95) / norms.quantile(0.05))
    ax.set_title(f"lengths vary: 95th / 5th percentile = {ratio:.1f}x", fontsize=10)

    ax = fig.add_subplot(grid[1])
    ax.scatter(amount[subset].numpy(), norms[subset].numpy(), s=3, alpha=0.4)
    ax.set_xlabel("ink (mean brightness of the image)")
    ax.set_ylabel("|f(x)|")
    ax.set_title(f"correlation with ink: {correlation(amount, norms):+.2f}", fontsize=10)

    ax = fig.add_subplot(grid[2])
    size = images.shape[-1]
    show_image(ax, mosaic(torch.stack([images[shortest], images[longest]])))
    ax.set_yticks([size / 2 + 2, 1.5 * size + 4], ["shortest", "longest"])
    ax.set_title(f"the {examples} shortest and longest feature vectors", fontsize=10)
    return fig


# ----------------------------------------------------------------------------
# Similarity matrices
# ----------------------------------------------------------------------------


def pick_class_drawings(
    labels: torch.Tensor, classes: int = 5, drawings: int = 5, seed: int = 0
) -> torch.Tensor:
    """``int64 [classes, drawings]``: image indices of ``drawings`` drawings of ``classes`` classes.

    A seeded random choice of classes (with at least ``drawings`` images), then of
    drawings within each class; row ``c`` holds class ``c``'s drawings.
    """
    episode = sample_episodes(labels, classes, drawings, queries=1, episodes=1, seed=seed)
    return episode.support[0]


def inner_product_matrix(features: torch.Tensor) -> torch.Tensor:
    """``S = F Fᵀ``, the raw inner products of all pairs: ``[n, d] -> [n, n]``."""
    return features @ features.T


def within_between(similarity: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean similarity of pairs of the same class and of different classes.

    ``similarity [n, n]``, ``labels [n]``; the diagonal (an image with itself) is left out.
    """
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    return (
        float(similarity[same & off_diagonal].mean()),
        float(similarity[~same].mean()),
    )


def similarity_matrices_figure(
    features: torch.Tensor, images: torch.Tensor, indices: torch.Tensor
) -> Figure:
    """The drawings, then their raw inner products ``F Fᵀ`` and cosine similarities ``F̂ F̂ᵀ``.

    ``features [I, d]`` and ``images [I, H, W]`` of a split; ``indices [C, D]``
    (from :func:`pick_class_drawings`): row ``c`` holds class ``c``'s drawings.
    The matrices list the images class by class (row-major), so same-class pairs
    form ``D x D`` blocks on the diagonal; white lines separate the classes.
    """
    classes, drawings = indices.shape
    chosen = features[indices.flatten()]
    labels = torch.arange(classes).repeat_interleave(drawings)
    matrices = [
        ("raw inner product  f(x)·f(y)", inner_product_matrix(chosen)),
        ("cosine similarity  cos(f(x), f(y))", cosine_similarity_matrix(chosen, chosen)),
    ]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[0.8, 1, 1])
    show_image(fig.add_subplot(grid[0]), mosaic(images[indices]), "the drawings (one class a row)")
    for column, (title, matrix) in enumerate(matrices, start=1):
        ax = fig.add_subplot(grid[column])
        shown = ax.imshow(matrix.numpy(), cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.85)
        for boundary in range(1, classes):
            ax.axhline(boundary * drawings - 0.5, color="white", linewidth=1)
            ax.axvline(boundary * drawings - 0.5, color="white", linewidth=1)
        ticks = [c * drawings + (drawings - 1) / 2 for c in range(classes)]
        ax.set_xticks(ticks, [f"class {c}" for c in range(classes)], fontsize=8)
        ax.set_yticks(ticks, [f"class {c}" for c in range(classes)], fontsize=8)
        within, between = within_between(matrix, labels)
        ax.set_title(f"{title}\nsame class {within:.2f}, different {between:.2f}", fontsize=10)
    return fig


# ----------------------------------------------------------------------------
# Nearest neighbours by cosine similarity
# ----------------------------------------------------------------------------


@dataclass
class Neighbours:
    """The ``k`` nearest images of each query: ``indices`` and ``similarities``, ``[Q, k]``.

    Row ``i`` belongs to ``queries[i]`` and is sorted from most to least similar.
    """

    queries: torch.Tensor
    indices: torch.Tensor
    similarities: torch.Tensor


MEASURES = ("cosine", "inner product")


def nearest_neighbours(
    features: torch.Tensor,
    queries: torch.Tensor,
    k: int = 5,
    measure: str = "cosine",
    chunk_size: int = 1024,
) -> Neighbours:
    """The ``k`` images most similar to each query image, by cosine (or raw inner product).

    ``features [I, d]`` of a split, ``queries int64 [Q]`` indices into it. A query
    is never its own neighbour. ``measure``: ``"cosine"`` (``f̂(x)·f̂(y)``) or
    ``"inner product"`` (``f(x)·f(y)``, lengths included). Processed ``chunk_size``
    queries at a time, so the ``[Q, I]`` similarity matrix never has to fit in memory.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    queries = torch.as_tensor(queries, dtype=torch.long).flatten()
    if k < 1 or k >= features.shape[0]:
        raise ValueError(f"k must be between 1 and {features.shape[0] - 1}, got {k}")
    vectors = l2_normalize(features) if measure == "cosine" else features
    indices, similarities = [], []
    for start in range(0, len(queries), chunk_size):
        chunk = queries[start : start + chunk_size]
        similarity = vectors[chunk] @ vectors.T  # [q, I]
        similarity[torch.arange(len(chunk)), chunk] = -torch.inf  # not itself
        top = similarity.topk(k, dim=1)
        indices.append(top.indices)
        similarities.append(top.values)
    return Neighbours(queries, torch.cat(indices), torch.cat(similarities))


def nearest_neighbour_accuracy(
    features: torch.Tensor,
    labels: torch.Tensor,
    queries: int = 1000,
    measure: str = "cosine",
    seed: int = 0,
) -> float:
    """% of ``queries`` random images whose most similar *other* image is of the same class.

    A 1-nearest-neighbour classifier among all the split's images, by ``measure``
    (see :func:`nearest_neighbours`). For Omniglot's evaluation split, 659
    classes of 20 drawings: a random guess is right 19 / 13,179 = 0.14% of the time.
    """
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(labels), generator=generator)[:queries]
    nearest = nearest_neighbours(features, chosen, k=1, measure=measure).indices[:, 0]
    return 100.0 * float((labels[nearest] == labels[chosen]).to(torch.float64).mean())


def nearest_neighbours_figure(
    images: torch.Tensor, labels: torch.Tensor, neighbours: Neighbours
) -> Figure:
    """One row per query: the query, then its neighbours with their cosine similarity.

    A neighbour is framed green when it is a drawing of the query's class, red when not.
    """
    count, k = neighbours.indices.shape
    fig = Figure(figsize=(1.25 * (k + 1) + 0.4, 1.45 * count), layout="constrained")
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


# ----------------------------------------------------------------------------
# The prototype classifier's mistakes
# ----------------------------------------------------------------------------


ORDERS = ("episode", "clearest", "closest")


@dataclass
class WrongQuery:
    """A query the prototype classifier got wrong, with what it needs to be drawn.

    ``image``: the query's index in the split; ``true``/``predicted``: episode
    labels (ways); ``true_support``/``predicted_support``: ``int64 [K]`` split
    indices of those two classes' support images; probabilities of both classes.
    """

    episode: int
    image: int
    true: int
    predicted: int
    true_probability: float
    predicted_probability: float
    true_support: torch.Tensor = field(repr=False)
    predicted_support: torch.Tensor = field(repr=False)
    true_similarity: float = 0.0
    predicted_similarity: float = 0.0


def wrong_queries(
    features: torch.Tensor,
    episodes: Episodes,
    limit: int | None = None,
    order: str = "episode",
    distinct: bool = False,
    scale: float = 1.0,
) -> list[WrongQuery]:
    """The queries the prototype classifier gets wrong in ``episodes``, as :class:`WrongQuery`.

    ``order``: ``"episode"`` (episode by episode, queries in order), ``"clearest"``
    (the largest margin ``cos(m_predicted, q) - cos(m_true, q)`` first) or
    ``"closest"`` (near misses: the smallest margin first). ``distinct``: keep only
    the first mistake of each query image (one image can be a query in several
    episodes). ``limit`` keeps the first ones. ``probabilities = softmax(scale · M q̂)``
    as in :mod:`fewshot_utils.prototypes`.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    support, query, labels = episode_features(features, episodes)
    M = prototypes(support)
    cosines = l2_normalize(query) @ M.transpose(-1, -2)  # [E, NQ, N]
    probabilities = prototype_probabilities(M, query, scale)
    predicted = cosines.argmax(dim=-1)
    episode_index, query_index = torch.nonzero(predicted != labels, as_tuple=True)
    if order != "episode":
        wrong_cosines = cosines[episode_index, query_index]  # [W, N]
        true = labels[episode_index, query_index].unsqueeze(1)
        margin = wrong_cosines.max(dim=-1).values - wrong_cosines.gather(1, true).squeeze(1)
        ranking = margin.argsort(descending=order == "clearest", stable=True)
        episode_index, query_index = episode_index[ranking], query_index[ranking]
    images = episodes.query.reshape(episodes.num_episodes, -1)
    if distinct:
        seen, keep = set(), []
        for position, image in enumerate(images[episode_index, query_index].tolist()):
            if image not in seen:
                seen.add(image)
                keep.append(position)
        episode_index, query_index = episode_index[keep], query_index[keep]
    if limit is not None:
        episode_index, query_index = episode_index[:limit], query_index[:limit]
    wrong = []
    for e, i in zip(episode_index.tolist(), query_index.tolist(), strict=True):
        true, guess = int(labels[e, i]), int(predicted[e, i])
        wrong.append(
            WrongQuery(
                episode=e,
                image=int(images[e, i]),
                true=true,
                predicted=guess,
                true_probability=float(probabilities[e, i, true]),
                predicted_probability=float(probabilities[e, i, guess]),
                true_support=episodes.support[e, true].clone(),
                predicted_support=episodes.support[e, guess].clone(),
                true_similarity=float(cosines[e, i, true]),
                predicted_similarity=float(cosines[e, i, guess]),
            )
        )
    return wrong


def wrong_queries_figure(images: torch.Tensor, wrong: list[WrongQuery]) -> Figure:
    """One row per wrong query: the query, its true class's support, the predicted class's.

    The true class's support images are framed green, the predicted (wrong) class's
    red; the titles give the cosine similarity of the query to both prototypes.
    """
    if not wrong:
        raise ValueError("no wrong queries to show")
    shots = len(wrong[0].true_support)
    size = images.shape[-1]
    fig = Figure(figsize=(1.1 * (2 * shots + 1) + 1.0, 1.5 * len(wrong)), layout="constrained")
    grid = fig.add_gridspec(len(wrong), 3, width_ratios=[1, shots, shots])
    for row, item in enumerate(wrong):
        ax = fig.add_subplot(grid[row, 0])
        show_image(ax, images[item.image], f"query\n(episode {item.episode})", fontsize=8)
        frame_axis(ax, "black")
        for column, (support, color, words, cos) in enumerate(
            [
                (item.true_support, RIGHT, "its true class", item.true_similarity),
                (item.predicted_support, WRONG, "predicted class", item.predicted_similarity),
            ],
            start=1,
        ):
            ax = fig.add_subplot(grid[row, column])
            show_image(ax, mosaic(images[support].unsqueeze(0)))
            ax.set_title(f"{words}: cos(prototype, query) = {cos:.2f}", fontsize=8)
            frame_tile(ax, 0, 0, size, color, cols=shots)
    return fig


# ----------------------------------------------------------------------------
# Accuracy against ways and shots
# ----------------------------------------------------------------------------


@dataclass
class AccuracySweep:
    """Prototype accuracy for every (shots, ways) pair: ``accuracy``, ``ci95`` ``[S, W]`` in %.

    ``queries[s]``: queries per class used with ``shots[s]`` shots (fewer than 15
    when a class has too few images for 15 queries plus the support).
    """

    ways: list[int]
    shots: list[int]
    queries: list[int]
    episodes: int
    accuracy: torch.Tensor
    ci95: torch.Tensor
    seconds: float

    def table(self) -> str:
        """A text table: one row per shots, one column per ways, ``mean ± ci`` in %."""
        head = " " * 16 + "".join(f"{f'{w}-way':>15}" for w in self.ways)
        lines = [head]
        for s, shots in enumerate(self.shots):
            cells = "".join(
                f"{float(self.accuracy[s, w]):>8.2f} ± {float(self.ci95[s, w]):4.2f}"
                for w in range(len(self.ways))
            )
            lines.append(f"{shots:>2d}-shot ({self.queries[s]:>2d} q.) {cells}")
        return "\n".join(lines)


def accuracy_sweep(
    features: torch.Tensor,
    labels: torch.Tensor,
    ways: tuple[int, ...] = (2, 5, 10, 20, 50),
    shots: tuple[int, ...] = (1, 2, 5, 10),
    queries: int = 15,
    episodes: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> AccuracySweep:
    """Evaluate the prototype classifier on ``episodes`` seeded episodes per (ways, shots).

    Uses :func:`fewshot_utils.evaluation.evaluate` on cached ``features [I, d]``
    (``labels [I]``: their classes). Each class of Omniglot has 20 drawings, so
    with ``shots`` shots at most ``20 - shots`` queries per class are left: the
    number of queries is ``min(queries, smallest class - shots)``.
    """
    smallest = int(torch.bincount(labels)[torch.bincount(labels) > 0].min())
    used = [min(queries, smallest - k) for k in shots]
    if min(used) < 1:
        raise ValueError(
            f"{max(shots)} shots leave no queries: the smallest class has {smallest} images"
        )
    accuracy = torch.zeros(len(shots), len(ways), dtype=torch.float64)
    ci95 = torch.zeros_like(accuracy)
    start = time.perf_counter()
    pairs = [(s, w) for s in range(len(shots)) for w in range(len(ways))]
    for s, w in tqdm(pairs, desc="ways x shots", disable=not progress):
        sampled = sample_episodes(labels, ways[w], shots[s], used[s], episodes, seed)
        result = evaluate(features, sampled)
        accuracy[s, w], ci95[s, w] = result.accuracy, result.ci95
    return AccuracySweep(
        list(ways), list(shots), used, episodes, accuracy, ci95, time.perf_counter() - start
    )


def accuracy_sweep_figure(sweep: AccuracySweep) -> Figure:
    """Accuracy against ways (log scale), one line per number of shots, with 95% CI bars."""
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for s, shots in enumerate(sweep.shots):
        ax.errorbar(
            sweep.ways,
            sweep.accuracy[s].numpy(),
            yerr=sweep.ci95[s].numpy(),
            marker="o",
            capsize=4,
            label=f"{shots}-shot",
        )
    ax.set_xscale("log")
    ax.set_xticks(sweep.ways, [str(w) for w in sweep.ways])
    ax.minorticks_off()
    ax.set_xlabel("ways N (classes per episode)")
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.set_title(f"prototype classifier, {sweep.episodes} episodes per point", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig
