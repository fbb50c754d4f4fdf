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
(:func:`fewshot_utils.backbone.embed`), then gather each episode's support and
query features with the episodes' index tensors (:func:`episode_features`).
Episodes are evaluated in chunks of many episodes at once (bounded memory);
:func:`evaluate_per_episode_loop` is the slow one-at-a-time reference.

The methods compared in the course, in order (:data:`METHODS`):

=============================  =====================  ============================
method                         CLI key                 what it is
=============================  =====================  ============================
``prototype``                  ``prototype``           no fine-tuning: W = M, b = 0
``fine-tune (random init)``    ``finetune-random``     trick 1 from a random start
``fine-tune (W = M)``          ``finetune-init``       trick 1 from W = M, b = 0
``W = M + entropy``            ``finetune-entropy``    + query entropy, λ = 0.1
``W = M + cosine``             ``finetune-cosine``     + cosine classifier, s = 10
``W = M + entropy + cosine``   ``finetune-all``        all three tricks, s = 20
=============================  =====================  ============================

Every fine-tuning method runs the same optimiser, 100 full-batch Adam steps at
lr 1e-1, so the methods differ only by their trick. These settings, λ and s were
chosen on held-out *background* alphabets, never on the evaluation ones, by
``benchmarks/choose_fine_tuning.py`` (its output: ``benchmarks/choose_fine_tuning.txt``),
from lr 1e-3 to 1e-1, 25 to 100 steps, λ from 0.01 to 1 and s in 5, 10, 20 or
learned: one shared value each, except s = 20 for all three tricks together, which
gained 0.3 points there over s = 10 (1 point in 20-way 1-shot) and lost in no
setting, while the cosine classifier alone was best at s = 10 or lower.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from fewshot_utils.episodes import Episodes
from fewshot_utils.fine_tuning import (
    DEFAULT_ENTROPY_WEIGHT,
    FineTuningConfig,
    fine_tune,
    fine_tune_one_episode,
)
from fewshot_utils.prototypes import prototype_logits, prototypes

#: The course's methods, in the order of the benchmark table: name -> fine-tuning
#: config (``None``: the prototype classifier, no fine-tuning).
METHODS: dict[str, FineTuningConfig | None] = {
    "prototype": None,
    "fine-tune (random init)": FineTuningConfig(init="random"),
    "fine-tune (W = M)": FineTuningConfig(init="prototypes"),
    "W = M + entropy": FineTuningConfig(entropy_weight=DEFAULT_ENTROPY_WEIGHT),
    "W = M + cosine": FineTuningConfig(classifier="cosine"),
    "W = M + entropy + cosine": FineTuningConfig(
        entropy_weight=DEFAULT_ENTROPY_WEIGHT, classifier="cosine", scale=20.0
    ),
}

#: Short ASCII keys for the command line: key -> method name in :data:`METHODS`.
METHOD_KEYS: dict[str, str] = {
    "prototype": "prototype",
    "finetune-random": "fine-tune (random init)",
    "finetune-init": "fine-tune (W = M)",
    "finetune-entropy": "W = M + entropy",
    "finetune-cosine": "W = M + cosine",
    "finetune-all": "W = M + entropy + cosine",
}

#: Memory for one chunk of episodes' features, logits and optimiser state.
CHUNK_BUDGET_BYTES = 32 * 2**20


def resolve_method(method) -> tuple[str, FineTuningConfig | None]:
    """``(name, config)`` of a method given as a name, a CLI key, a config, or ``None``.

    ``None`` and ``"prototype"`` mean the prototype classifier; a
    :class:`FineTuningConfig` is a custom fine-tuning (named by its description).
    """
    if method is None:
        return "prototype", None
    if isinstance(method, FineTuningConfig):
        for name, config in METHODS.items():
            if config == method:
                return name, config
        return f"fine-tune ({method.describe()})", method
    if isinstance(method, str):
        name = METHOD_KEYS.get(method, method)
        if name in METHODS:
            return name, METHODS[name]
    choices = ", ".join(repr(key) for key in METHOD_KEYS)
    raise ValueError(
        f"unknown method {method!r}: use one of {choices}, a name of METHODS, or a FineTuningConfig"
    )


# ----------------------------------------------------------------------------
# From cached features to episodes
# ----------------------------------------------------------------------------


def episode_features(
    features: torch.Tensor, episodes: Episodes
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather the episodes' features from a split's cached features ``[I, d]``.

    Returns ``support [E, N, K, d]``, ``query [E, N·Q, d]`` and ``query_labels
    int64 [E, N·Q]`` (the episode label ``n`` of each query, class-major order).
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
    support = features[episodes.support]
    query = features[episodes.query].reshape(num_episodes, ways * queries, -1)
    query_labels = episodes.query_labels().reshape(num_episodes, ways * queries)
    return support, query, query_labels


def default_chunk_size(
    ways: int, shots: int, queries: int, dim: int, budget_bytes: int = CHUNK_BUDGET_BYTES
) -> int:
    """How many episodes to evaluate at once so that one chunk needs about ``budget_bytes``.

    Per episode: the gathered and normalised features (``2 (NK + NQ) d`` numbers),
    the query logits and their softmax, entropy and gradient temporaries (about
    ``6 NQ · N``), and ``W``, its gradient, Adam's two moments (about ``8 N d``),
    4 bytes each.
    """
    per_episode = 4 * (
        2 * ways * (shots + queries) * dim + 6 * ways * queries * ways + 8 * ways * dim
    )
    return max(1, budget_bytes // per_episode)


def _fingerprint(episodes: Episodes) -> str:
    digest = hashlib.sha1()
    for tensor in (episodes.support, episodes.query):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------
# Means, confidence intervals, paired differences
# ----------------------------------------------------------------------------


def mean_and_ci(values: torch.Tensor) -> tuple[float, float]:
    """``(mean, 1.96 · std / √E)`` of ``E`` per-episode values (same unit as the values).

    ``std`` is the sample standard deviation (denominator ``E - 1``); with a single
    episode the interval is undefined and returned as ``nan``.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    if values.numel() == 0:
        raise ValueError("mean_and_ci needs at least one value, got none")
    mean = float(values.mean())
    if values.numel() < 2:
        return mean, math.nan
    return mean, float(1.96 * values.std() / math.sqrt(values.numel()))


@dataclass
class EvaluationResult:
    """Accuracy of one method over ``episodes`` N-way K-shot episodes.

    ``accuracy`` and ``ci95`` are in %; ``per_episode`` (``float [E]``, in %) keeps
    each episode's accuracy for paired comparisons.
    """

    method: str
    config: FineTuningConfig | None
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
        return {
            "method": self.method,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "episodes": self.episodes,
            "accuracy": self.accuracy,
            "ci95": self.ci95,
            "seconds": self.seconds,
            "config": None if self.config is None else self.config.to_dict(),
        }


@dataclass
class PairedDifference:
    """``a - b`` on the same episodes, in percentage points: mean, 95% CI, per episode."""

    mean: float
    ci95: float
    per_episode: torch.Tensor = field(repr=False)

    def __str__(self) -> str:
        return f"{self.mean:+.2f} ± {self.ci95:.2f} points"


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


def _result(name, config, per_episode, seconds, episodes: Episodes) -> EvaluationResult:
    accuracy, ci95 = mean_and_ci(per_episode)
    return EvaluationResult(
        method=name,
        config=config,
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
) -> EvaluationResult:
    """Evaluate a method on all ``episodes`` from cached ``features [I, d]``.

    ``method``: a name of :data:`METHODS`, a CLI key of :data:`METHOD_KEYS`, a
    :class:`FineTuningConfig` or ``None`` (prototype). Episodes are processed
    ``chunk_size`` at a time (default :func:`default_chunk_size`); the results do
    not depend on the chunk size, and the random start of episode ``e`` depends
    only on ``(seed, e)``.
    """
    name, config = resolve_method(method)
    features = features.detach().float()
    if chunk_size is None:
        chunk_size = default_chunk_size(
            episodes.ways, episodes.shots, episodes.queries, features.shape[-1]
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    start_time = time.perf_counter()
    accuracies = []
    starts = range(0, episodes.num_episodes, chunk_size)
    for start in tqdm(starts, desc=name, unit="chunk", disable=not progress):
        stop = min(start + chunk_size, episodes.num_episodes)
        support, query, labels = episode_features(features, episodes[start:stop])
        if config is None:
            logits = prototype_logits(prototypes(support), query)
        else:
            classifier = fine_tune(
                support, query, config, seed=seed, episode_index=torch.arange(start, stop)
            )
            logits = classifier.logits(query)
        accuracies.append(_episode_accuracy(logits, labels))
    seconds = time.perf_counter() - start_time
    return _result(name, config, torch.cat(accuracies), seconds, episodes)


def evaluate_per_episode_loop(
    features: torch.Tensor, episodes: Episodes, method="prototype", seed: int = 0
) -> EvaluationResult:
    """The slow reference: the same evaluation, one episode at a time in a Python loop.

    This is how most few-shot code evaluates; :func:`evaluate` must agree with it.
    """
    name, config = resolve_method(method)
    features = features.detach().to(torch.float32)
    start_time = time.perf_counter()
    accuracies = []
    num_episodes, ways, queries = episodes.query.shape
    labels = torch.arange(ways).repeat_interleave(queries)
    for e in range(num_episodes):
        support = features[episodes.support[e]]  # [N, K, d]
        query = features[episodes.query[e]].reshape(ways * queries, -1)  # [N·Q, d]
        if config is None:
            logits = prototype_logits(prototypes(support), query)
        else:
            logits = fine_tune_one_episode(support, query, config, seed, e).logits(query)
        accuracies.append(_episode_accuracy(logits, labels))
    seconds = time.perf_counter() - start_time
    return _result(name, config, torch.stack(accuracies), seconds, episodes)
