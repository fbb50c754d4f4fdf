"""The benchmark: every method of the course in every setting, on the same episodes.

:func:`run_benchmark` samples ``episodes`` seeded episodes per setting (N-way
K-shot) once, evaluates every method on exactly those episodes, and adds each
method's paired difference against the prototype classifier. The rows become the
table of notebook 08 and the README (:func:`fewshot_utils.viz.tables.benchmark_table`):
methods as rows, settings as columns, cells ``97.1 ± 0.3``.

:data:`PUBLISHED` holds the published figures the course compares with.
"""

from __future__ import annotations

import torch

from fewshot_utils.fewshot.episodes import check_episodes, sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate, paired_difference
from fewshot_utils.fewshot.methods import METHODS, REFERENCE, resolve_method
from fewshot_utils.models.features import check_features
from fewshot_utils.validation import check

SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
ROW_KEYS = ("method", "ways", "shots", "episodes", "accuracy", "ci95", "seconds")


def run_benchmark(
    features: torch.Tensor,
    labels: torch.Tensor,
    episodes: int = 1000,
    settings=SETTINGS,
    methods=None,
    queries: int = 15,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """Evaluate ``methods`` in every ``(ways, shots)`` setting; one row per method and setting.

    ``features [I, d]`` and ``labels [I]`` are the cached features and classes of
    the evaluation split; ``methods``: names, CLI keys or method objects (default: every
    method of :data:`~fewshot_utils.fewshot.methods.METHODS`, registered ones included).
    Each row holds ``method, ways, shots, episodes, accuracy, ci95, seconds`` (accuracy
    and interval in %) and ``paired_vs_prototype, paired_ci95``: the mean paired
    difference to the prototype classifier on the same episodes and its 95% interval, in
    points (``None`` when the prototype classifier is not among ``methods``; 0 for itself).
    Every setting and method is checked before the first is evaluated (:func:`check_settings`).
    """
    methods = tuple(METHODS) if methods is None else tuple(methods)
    settings = check_settings(features, labels, settings, queries, episodes)
    if not methods:
        raise ValueError("methods is empty: give at least one method, or None for all of them")
    for method in methods:
        resolve_method(method)  # an unknown one fails now, not after the first settings
    seed = check("seed", seed)
    rows = []
    for ways, shots in settings:
        sampled = sample_episodes(labels, ways, shots, queries, episodes, seed=seed)
        results = []
        for method in methods:
            name, _ = resolve_method(method)
            if progress:
                print(f"{ways}-way {shots}-shot: {name}", flush=True)
            results.append(evaluate(features, sampled, method, chunk_size, seed, progress))
        baseline = next((result for result in results if result.method == REFERENCE), None)
        for result in results:
            row = {key: value for key, value in result.to_dict().items() if key in ROW_KEYS}
            row["paired_vs_prototype"] = row["paired_ci95"] = None
            if baseline is not None:
                difference = paired_difference(result, baseline)
                row["paired_vs_prototype"] = difference.mean
                row["paired_ci95"] = 0.0 if result is baseline else difference.ci95
            rows.append(row)
    return rows


def check_settings(features, labels, settings, queries: int, episodes: int) -> list:
    """Check every ``(ways, shots)`` setting against the split before any is evaluated:
    the benchmark's numbers (:func:`~fewshot_utils.fewshot.episodes.check_episodes`) and
    ``features [I, d]`` (when given) with one row per label. Returns the settings as a list."""
    if features is not None:
        check_features(features)
    if features is not None and len(features) != len(labels):
        raise ValueError(
            f"features has {len(features)} rows but labels has {len(labels)}: pass the "
            "features and labels of the same split"
        )
    settings = list(settings)
    if not settings:
        raise ValueError("settings is empty: give (ways, shots) pairs such as [(5, 1), (5, 5)]")
    for setting in settings:
        if not isinstance(setting, (tuple, list)) or len(setting) != 2:
            raise ValueError(f"a setting is (ways, shots), e.g. (5, 1), got {setting!r}")
        check_episodes(labels, *setting, queries, episodes)
    return settings


# ----------------------------------------------------------------------------
# Published numbers
# ----------------------------------------------------------------------------


#: Published few-shot accuracies (%) the course compares with: one entry per method.
PUBLISHED = (
    {
        "source": "Snell et al. 2017",
        "method": "Prototypical Networks",
        "data": "Omniglot, Vinyals' split (rotations as extra classes)",
        "backbone": "Conv4",
        "accuracy": {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "support-based init",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 56.2, (5, 5): 73.3},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "fine-tuning",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 57.7, (5, 5): 78.2},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "transductive fine-tuning",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 65.7, (5, 5): 78.4},
    },
)
