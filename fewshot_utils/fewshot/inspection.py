"""Looking inside: what cosine similarity, the prototypes and fine-tuning do on real features.

The numbers of the course (an accuracy, a confidence interval) say *how well*;
this module computes *what happens*, on the cached features ``[I, d]`` of a split
(:func:`fewshot_utils.models.conv4.embed`) and its ``uint8 [I, H, W]`` images. The
figures that show these numbers are in :mod:`fewshot_utils.viz`.

* feature lengths: :func:`feature_norms`, :func:`ink`, :func:`correlation`
  (why features are normalised before they are compared);
* similarity matrices: :func:`pick_class_drawings`, :func:`inner_product_matrix`,
  :func:`within_between`, :func:`block_similarities` (raw inner product ``F Fᵀ`` against
  cosine ``F̂ F̂ᵀ``);
* nearest neighbours by cosine: :func:`nearest_neighbours`, :func:`nearest_neighbour_accuracy`;
* the prototype classifier's mistakes: :func:`wrong_queries`;
* accuracy against ways and shots: :func:`accuracy_sweep`;
* fine-tuning step by step: :func:`record_fine_tuning`; where the predictions go:
  :func:`predicted_class_shares` (a collapsed classifier sends most queries to one class).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from fewshot_utils.fewshot.cosine_similarity import cosine_similarity_matrix, l2_normalize
from fewshot_utils.fewshot.episodes import Episodes, sample_episodes
from fewshot_utils.fewshot.evaluation import episode_chunks, episode_features, evaluate
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune
from fewshot_utils.fewshot.prototypes import prototype_probabilities, prototypes
from fewshot_utils.fewshot.softmax_classifier import FineTuningHistory

# ----------------------------------------------------------------------------
# Feature lengths and similarities
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
    labels = labels.to(similarity.device)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=similarity.device)
    return (
        float(similarity[same & off_diagonal].mean()),
        float(similarity[~same].mean()),
    )


#: The two ways of comparing features that notebook 03 puts side by side.
SIMILARITY_MEASURES = ("raw inner product", "cosine")


def block_similarities(
    features: torch.Tensor, indices: torch.Tensor
) -> dict[str, tuple[float, float]]:
    """``{measure: (same class, different classes)}``: the mean similarity of the pairs of
    drawings ``indices [C, D]`` (row ``c``: class ``c``'s drawings, as from
    :func:`pick_class_drawings`), by raw inner product ``f(x)·f(y)`` and by cosine.

    ``features [I, d]`` of the split. The pairs of the ``C·D x C·D`` similarity matrix
    (:func:`inner_product_matrix`, ``cosine_similarity_matrix``), an image with itself
    left out (:func:`within_between`).
    """
    classes, drawings = indices.shape
    chosen = features[indices.flatten()]
    labels = torch.arange(classes).repeat_interleave(drawings)
    matrices = (inner_product_matrix(chosen), cosine_similarity_matrix(chosen, chosen))
    return {
        measure: within_between(matrix, labels)
        for measure, matrix in zip(SIMILARITY_MEASURES, matrices, strict=True)
    }


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
        chunk = queries[start : start + chunk_size].to(vectors.device)
        similarity = vectors[chunk] @ vectors.T  # [q, I]
        rows = torch.arange(len(chunk), device=vectors.device)
        similarity[rows, chunk] = -torch.inf  # not itself
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
    nearest = nearest_neighbours(features, chosen, k=1, measure=measure).indices[:, 0].cpu()
    labels = labels.cpu()
    return 100.0 * float((labels[nearest] == labels[chosen]).to(torch.float64).mean())


# ----------------------------------------------------------------------------
# The prototype classifier's mistakes, and its accuracy against ways and shots
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
    as in :mod:`fewshot_utils.fewshot.prototypes`.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    support, query, labels = episode_features(features, episodes)
    M = prototypes(support)
    cosines = l2_normalize(query) @ M.transpose(-1, -2)  # [E, NQ, N]
    probabilities = prototype_probabilities(M, query, scale).cpu()
    cosines, labels = cosines.cpu(), labels.cpu()  # small, and indexed with CPU indices below
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

    Uses :func:`fewshot_utils.fewshot.evaluation.evaluate` on cached ``features [I, d]``
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


# ----------------------------------------------------------------------------
# Fine-tuning step by step, and where the predictions go
# ----------------------------------------------------------------------------


def record_fine_tuning(
    features: torch.Tensor,
    episodes: Episodes,
    method: FineTuning,
    seed: int = 0,
    chunk_size: int | None = None,
) -> FineTuningHistory:
    """Fine-tune ``episodes`` with ``method`` and return what happened at every step.

    ``features [I, d]``: the split's cached features. The history's fields are
    ``[steps + 1, E]`` (row 0: the initial classifier), with query accuracy in %, and
    ``predictions [E, Q]``, the queries' classes at the end, on the CPU (for plots) whatever
    device fine-tuned. Episodes are fine-tuned a chunk at a time (:func:`episode_chunks`)
    with the same random starts as :func:`~fewshot_utils.fewshot.evaluation.evaluate`.
    """
    parts, predictions = [], []
    for index, support, query, labels in episode_chunks(features, episodes, chunk_size):
        classifier = fine_tune(
            support,
            query,
            method,
            seed=seed,
            episode_index=index,
            query_labels=labels,
            record=True,
        )
        parts.append(classifier.history)
        predictions.append(classifier.predict(query))
    return FineTuningHistory(
        support_loss=torch.cat([h.support_loss for h in parts], dim=1).cpu(),
        query_entropy=torch.cat([h.query_entropy for h in parts], dim=1).cpu(),
        query_accuracy=torch.cat([h.query_accuracy for h in parts], dim=1).cpu(),
        predictions=torch.cat(predictions).cpu(),
    )


def predicted_class_shares(predictions: torch.Tensor, ways: int) -> torch.Tensor:
    """% of an episode's queries given to its most-predicted class, 2nd, ...; mean over episodes.

    ``predictions int64 [E, Q]`` (or one episode ``[Q]``) with classes ``0 .. ways-1``
    ``-> float [ways]`` in %, sorted from the most-predicted class down; it sums to
    100. The episodes have the same number of queries in every class, so a perfect
    classifier gives ``100/N`` for every rank; a collapse puts most of the 100 in
    the first bar.
    """
    predictions = torch.as_tensor(predictions).cpu()
    if predictions.dim() == 1:
        predictions = predictions.unsqueeze(0)
    if predictions.dim() != 2:
        raise ValueError(f"predictions must be [E, Q] (or [Q]), got {tuple(predictions.shape)}")
    if predictions.numel() and (predictions.min() < 0 or predictions.max() >= ways):
        raise ValueError(f"predictions must be classes 0 .. {ways - 1}")
    counts = torch.zeros(predictions.shape[0], ways, dtype=torch.float64)
    counts.scatter_add_(1, predictions.long(), torch.ones_like(predictions, dtype=torch.float64))
    ranked = counts.sort(dim=1, descending=True).values
    return 100.0 * (ranked / predictions.shape[1]).mean(dim=0)
