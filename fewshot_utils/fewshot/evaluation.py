"""The evaluation protocol: mean accuracy over many episodes, with a 95% confidence interval.

One episode's accuracy is a noisy number (75 queries for 5-way with 15 queries
per class), so a method is judged by its mean over ``E`` episodes (``E ≥ 1000``)
and the 95% confidence interval of that mean:

    accuracy = (1/E) Σ_e a_e,        ci95 = 1.96 · std(a) / √E

(``std`` with the ``E - 1`` denominator). Two methods evaluated on the *same*
seeded episodes are compared by their **paired difference** ``d_e = a_e - b_e``:
its interval ``1.96 · std(d) / √E`` is much tighter than the two plain
intervals, because an episode that is hard for one method is hard for the other.

Evaluation runs on *cached features*: embed the evaluation split once
(:func:`fewshot_utils.models.conv4.embed`), then gather each episode's support and
query features with the episodes' index tensors (:func:`episode_features`).
Episodes are evaluated in chunks of many episodes at once, sized by one memory rule
(:func:`episodes_per_chunk`); :func:`evaluate_per_episode_loop` is the slow one-at-a-time
reference. Every method is a :class:`~fewshot_utils.fewshot.classifier.FewShotMethod`
(``fit``, then ``logits``), named in :mod:`fewshot_utils.fewshot.methods`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from fewshot_utils.fewshot.classifier import FewShotMethod
from fewshot_utils.fewshot.episodes import Episodes, sample_episodes
from fewshot_utils.fewshot.methods import resolve_method
from fewshot_utils.models.features import check_features
from fewshot_utils.validation import check

#: Memory for one chunk of episodes (features, logits, gradients, optimiser state).
CHUNK_BUDGET_BYTES = 32 * 2**20

VERDICTS = ("helps", "hurts", "unclear")


def setting_name(ways: int, shots: int, within_alphabet: bool = False) -> str:
    """``5, 1 -> "5-way 1-shot"``; within one alphabet ``"20-way 1-shot, one alphabet"``."""
    return f"{ways}-way {shots}-shot" + (", one alphabet" if within_alphabet else "")


# ----------------------------------------------------------------------------
# From cached features to episodes, a chunk at a time
# ----------------------------------------------------------------------------


def episode_features(
    features: torch.Tensor, episodes: Episodes
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather the episodes' features from a split's cached features ``[I, d]``.

    Returns ``support [E, N, K, d]``, ``query [E, N·Q, d]`` and ``query_labels
    int64 [E, N·Q]`` (the episode label ``n`` of each query, class-major order), all on
    the features' device (the episodes' index tensors may stay on the CPU).
    """
    if features.dim() != 2:
        raise ValueError(
            f"features must be [I, d] (one row per image of the split), got shape "
            f"{tuple(features.shape)}"
        )
    highest = int(max(episodes.support.max(), episodes.query.max()))
    if highest >= features.shape[0]:
        raise ValueError(
            f"the episodes index image {highest} but there are only {features.shape[0]} "
            "feature rows: sample the episodes from the labels of the same split you embedded"
        )
    num_episodes, ways, queries = episodes.query.shape
    support = features[episodes.support.to(features.device)]
    query = features[episodes.query.to(features.device)].reshape(num_episodes, ways * queries, -1)
    query_labels = episodes.query_labels().reshape(num_episodes, ways * queries).to(features.device)
    return support, query, query_labels


def episodes_per_chunk(
    ways: int,
    shots: int,
    queries: int,
    dim: int,
    uses_queries: bool = True,
    budget_bytes: int = CHUNK_BUDGET_BYTES,
) -> int:
    """How many episodes to process at once so that one chunk needs about ``budget_bytes``.

    Per episode, 4 bytes per number: the gathered features ``(NK + NQ) d``; fine-tuning's
    normalised support copy ``2 NK d``, ``W`` with its gradient and Adam's moments
    ``8 N d`` and support logits ``4 N·NK``; when the queries take part (the entropy term,
    or a recorded history) their normalised copy ``2 NQ d`` and logits with softmax and
    gradient ``4 N·NQ`` (benchmarks/README.md compares it with measured memory).
    """
    support, query = ways * shots, ways * queries
    numbers = (support + query) * dim + 2 * support * dim + 8 * ways * dim + 4 * ways * support
    if uses_queries:
        numbers += 2 * query * dim + 4 * ways * query
    return max(1, budget_bytes // (4 * numbers))


def episode_chunks(
    features: torch.Tensor,
    episodes: Episodes,
    chunk_size: int | None = None,
    uses_queries: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Consecutive chunks of episodes with their features, for bounded memory.

    Yields ``(episode_index int64 [C], support [C, N, K, d], query [C, N·Q, d],
    labels [C, N·Q])`` for chunks of ``chunk_size`` episodes (default :func:`episodes_per_chunk`).
    Pass ``episode_index`` to ``fit`` so that random starts do not depend on the chunks.
    """
    features = features.detach().float()
    if chunk_size is None:
        chunk_size = episodes_per_chunk(
            episodes.ways, episodes.shots, episodes.queries, features.shape[-1], uses_queries
        )
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a whole number >= 1, got {chunk_size}")
    for start in range(0, episodes.num_episodes, chunk_size):
        stop = min(start + chunk_size, episodes.num_episodes)
        yield (torch.arange(start, stop), *episode_features(features, episodes[start:stop]))


def _fingerprint(episodes: Episodes) -> str:
    digest = hashlib.sha1()
    for tensor in (episodes.support, episodes.query):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------
# Means, confidence intervals, paired differences
# ----------------------------------------------------------------------------


def mean_and_ci(values, dim: int | None = None):
    """``(mean, 1.96 · std / √E)`` of ``E`` values (same unit as the values).

    ``std`` is the sample standard deviation (denominator ``E - 1``); with a single
    value the interval is undefined: ``nan``. ``dim=None``: all values, two floats;
    ``dim=1`` for a ``[T, E]`` curve (one row per step): two float64 tensors ``[T]``.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if dim is None:
        values = values.flatten()
        dim = 0
    count = values.shape[dim] if values.dim() else 1
    if values.numel() == 0 or count == 0:
        raise ValueError("mean_and_ci needs at least one value, got none")
    mean = values.mean(dim=dim)
    ci = (
        1.96 * values.std(dim=dim) / math.sqrt(count)
        if count > 1
        else torch.full_like(mean, math.nan)
    )
    if mean.dim() == 0:
        return float(mean), float(ci)
    return mean, ci


def verdict(mean: float, ci95: float) -> str:
    """``"helps"``, ``"hurts"`` or ``"unclear"`` for a paired difference ``mean ± ci95``:
    helps (hurts) when the whole interval lies above (below) 0."""
    if mean - ci95 > 0:
        return "helps"
    if mean + ci95 < 0:
        return "hurts"
    return "unclear"


@dataclass
class EvaluationResult:
    """Accuracy of one method over ``episodes`` N-way K-shot episodes.

    ``accuracy`` and ``ci95`` are in %; ``per_episode`` (``float [E]``, in %) keeps
    each episode's accuracy for paired comparisons; ``config`` is the method itself.
    """

    method: str
    config: FewShotMethod
    accuracy: float
    ci95: float
    per_episode: torch.Tensor = field(repr=False)
    seconds: float
    episodes: int
    ways: int
    shots: int
    queries: int
    fingerprint: str = field(repr=False)

    def __str__(self) -> str:
        return (
            f"{self.method}: {self.accuracy:.2f} ± {self.ci95:.2f} % "
            f"({self.ways}-way {self.shots}-shot, {self.episodes} episodes, {self.seconds:.1f} s)"
        )

    def to_dict(self) -> dict:
        """Plain numbers and strings (no tensors), for JSON."""
        settings = (
            dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else None
        )
        return {
            "method": self.method,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "episodes": self.episodes,
            "accuracy": self.accuracy,
            "ci95": self.ci95,
            "seconds": self.seconds,
            "config": settings,
        }


@dataclass
class PairedDifference:
    """``a - b`` on the same episodes, in percentage points: mean, 95% CI, per episode."""

    mean: float
    ci95: float
    per_episode: torch.Tensor = field(repr=False)

    def __str__(self) -> str:
        return f"{self.mean:+.2f} ± {self.ci95:.2f} points"

    @property
    def verdict(self) -> str:
        """:func:`verdict` of this difference."""
        return verdict(self.mean, self.ci95)


def paired_difference(a: EvaluationResult, b: EvaluationResult) -> PairedDifference:
    """The paired difference ``a - b`` of two methods evaluated on the same episodes."""
    if a.fingerprint != b.fingerprint:
        raise ValueError(
            f"{a.method!r} and {b.method!r} were evaluated on different episodes: a paired "
            "difference needs the same episodes, so sample them once and pass the same "
            "Episodes to both evaluations"
        )
    difference = a.per_episode - b.per_episode
    mean, ci95 = mean_and_ci(difference)
    return PairedDifference(mean, ci95, difference)


# ----------------------------------------------------------------------------
# Evaluating a method: batched, and the one-episode-at-a-time reference
# ----------------------------------------------------------------------------


def _episode_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """% of each episode's queries whose largest logit is their class: ``[E, Q, N] -> [E]``."""
    right = logits.argmax(dim=-1) == labels.to(logits.device)
    return 100.0 * right.to(torch.float64).mean(dim=-1).cpu()


def _result(name, method, per_episode, seconds, episodes: Episodes) -> EvaluationResult:
    accuracy, ci95 = mean_and_ci(per_episode)
    return EvaluationResult(
        method=name,
        config=method,
        accuracy=accuracy,
        ci95=ci95,
        per_episode=per_episode,
        seconds=seconds,
        episodes=episodes.num_episodes,
        ways=episodes.ways,
        shots=episodes.shots,
        queries=episodes.queries,
        fingerprint=_fingerprint(episodes),
    )


def evaluate(
    features: torch.Tensor,
    episodes: Episodes,
    method="prototype",
    chunk_size: int | None = None,
    seed: int = 0,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> EvaluationResult:
    """Evaluate a method on all ``episodes`` from cached ``features [I, d]``.

    ``method``: a name of :data:`~fewshot_utils.fewshot.methods.METHODS`, a CLI key,
    or a :class:`~fewshot_utils.fewshot.classifier.FewShotMethod`. Episodes are
    processed ``chunk_size`` at a time (default :func:`episodes_per_chunk`); the results do not
    depend on the chunk size, and the random start of episode ``e`` depends only on
    ``(seed, e)``. Everything runs on ``device`` (default: the features' device; the
    features are moved there); the per-episode accuracies come back on the CPU.
    """
    name, fewshot_method = resolve_method(method)
    check_features(features, episodes)
    seed = check("seed", seed)
    chunk_size = None if chunk_size is None else check("chunk_size", chunk_size)
    if device is not None:
        features = features.to(device)
    start_time = time.perf_counter()
    accuracies = []
    if chunk_size is None:
        chunk_size = episodes_per_chunk(
            episodes.ways,
            episodes.shots,
            episodes.queries,
            features.shape[-1],
            fewshot_method.transductive,
        )
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a whole number >= 1, got {chunk_size}")
    chunks = episode_chunks(features, episodes, chunk_size)
    total = math.ceil(episodes.num_episodes / chunk_size)
    for index, support, query, labels in tqdm(
        chunks, desc=name, unit="chunk", total=total, disable=not progress
    ):
        classifier = fewshot_method.fit(support, query, seed=seed, episode_index=index)
        accuracies.append(_episode_accuracy(classifier.logits(query), labels))
    seconds = time.perf_counter() - start_time
    return _result(name, fewshot_method, torch.cat(accuracies), seconds, episodes)


def evaluate_per_episode_loop(
    features: torch.Tensor, episodes: Episodes, method="prototype", seed: int = 0
) -> EvaluationResult:
    """The slow reference: the same evaluation, one episode at a time in a Python loop.

    This is how most few-shot code evaluates; :func:`evaluate` must agree with it.
    """
    name, fewshot_method = resolve_method(method)
    features = features.detach().to(torch.float32)
    start_time = time.perf_counter()
    accuracies = []
    num_episodes, ways, queries = episodes.query.shape
    labels = torch.arange(ways).repeat_interleave(queries)
    for e in range(num_episodes):
        support = features[episodes.support[e]]  # [N, K, d]
        query = features[episodes.query[e]].reshape(ways * queries, -1)  # [N·Q, d]
        classifier = fewshot_method.fit(support, query, seed=seed, episode_index=torch.tensor([e]))
        accuracies.append(_episode_accuracy(classifier.logits(query), labels))
    seconds = time.perf_counter() - start_time
    return _result(name, fewshot_method, torch.stack(accuracies), seconds, episodes)


# ----------------------------------------------------------------------------
# Probabilities, sweeps and comparisons on the same episodes
# ----------------------------------------------------------------------------


def episode_probabilities(
    features: torch.Tensor,
    episodes: Episodes,
    method="prototype",
    scale: float | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query's class probabilities under a method: ``(p [E, Q, N], labels int64 [E, Q])``.

    ``method`` as in :func:`evaluate`; ``scale``: for the prototype classifier,
    ``p = softmax(s · M q̂)`` with this ``s`` instead of the method's (a fine-tuned
    classifier has its own scale). Episodes are processed in chunks like
    :func:`evaluate`, with the same random starts, so ``p.argmax(-1)`` gives exactly
    its predictions.
    """
    from fewshot_utils.fewshot.prototypes import PrototypeMethod

    _, fewshot_method = resolve_method(method)
    if scale is not None and isinstance(fewshot_method, PrototypeMethod):
        fewshot_method = PrototypeMethod(scale)
    probabilities, all_labels = [], []
    for index, support, query, labels in episode_chunks(
        features, episodes, chunk_size, fewshot_method.transductive
    ):
        classifier = fewshot_method.fit(support, query, seed=seed, episode_index=index)
        probabilities.append(classifier.logits(query).softmax(dim=-1))
        all_labels.append(labels)
    return torch.cat(probabilities), torch.cat(all_labels)


def sweep(
    features: torch.Tensor,
    episodes: Episodes,
    method: FewShotMethod,
    parameter: str,
    values: Sequence,
    seed: int = 0,
) -> list[EvaluationResult]:
    """Evaluate ``method`` with ``parameter`` set to each of ``values``, on the same episodes.

    ``method``: a :class:`~fewshot_utils.fewshot.fine_tuning.FineTuning` (or any
    dataclass method); ``parameter``: one of its fields (``"entropy_weight"``, ``"lr"``,
    ``"steps"``, ``"scale"``, ...). Returns one :class:`EvaluationResult` per value.
    """
    fields = (
        [f.name for f in dataclasses.fields(method)] if dataclasses.is_dataclass(method) else []
    )
    if parameter not in fields:
        raise ValueError(f"unknown parameter {parameter!r}: choose one of {', '.join(fields)}")
    return [
        evaluate(features, episodes, dataclasses.replace(method, **{parameter: value}), seed=seed)
        for value in values
    ]


def evaluate_methods(
    features: torch.Tensor,
    labels: torch.Tensor,
    methods: Sequence | Mapping,
    settings: Sequence[tuple[int, int]] = ((5, 1), (5, 5)),
    episodes: int = 1000,
    queries: int = 15,
    seed: int = 0,
) -> dict[str, dict[str, EvaluationResult]]:
    """Evaluate ``methods`` on the same seeded episodes of each ``(ways, shots)`` setting.

    ``methods``: names, CLI keys or method objects (or ``{name: method}`` to name them
    yourself). Returns ``{setting name: {method name: EvaluationResult}}``.
    """
    named = (
        dict(methods)
        if isinstance(methods, Mapping)
        else {resolve_method(m)[0]: m for m in methods}
    )
    results = {}
    for ways, shots in settings:
        sampled = sample_episodes(labels, ways, shots, queries, episodes, seed=seed)
        row = {}
        for name, method in named.items():
            result = evaluate(features, sampled, method, seed=seed)
            result.method = name
            row[name] = result
        results[setting_name(ways, shots)] = row
    return results


def by_method(
    results: Mapping[str, Mapping[str, EvaluationResult]],
) -> dict[str, list[EvaluationResult]]:
    """``{setting: {method: result}}`` -> ``{method: [its result in each setting]}``."""
    methods: dict[str, list[EvaluationResult]] = {}
    for row in results.values():
        for name, result in row.items():
            methods.setdefault(name, []).append(result)
    return methods
