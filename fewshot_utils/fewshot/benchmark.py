"""The benchmark: every method of the course in every setting, on the same episodes.

:func:`run_benchmark` samples ``episodes`` seeded episodes per setting once, evaluates
every method on exactly those episodes, and adds each method's paired difference
against the prototype classifier. The rows become the table of notebook 08 and the
README (:func:`fewshot_utils.viz.tables.benchmark_table`): methods as rows, settings as
columns, cells ``97.1 ± 0.3``.

The settings (:class:`Setting`): the four standard ones (5/20-way, 1/5-shot, classes
drawn from all the novel alphabets), and Lake et al.'s (2015) original one-shot task,
:data:`LAKE`: 20-way 1-shot where all 20 characters of an episode come from *one*
alphabet, harder because an alphabet's characters look alike. :data:`PUBLISHED` holds
the published figures the course compares with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fewshot_utils.fewshot.episodes import check_episodes, sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate, paired_difference, setting_name
from fewshot_utils.fewshot.methods import METHODS, REFERENCE, resolve_method
from fewshot_utils.models.features import check_features
from fewshot_utils.validation import check


@dataclass(frozen=True)
class Setting:
    """N-way K-shot episodes; ``within_alphabet``: all N classes from one alphabet."""

    ways: int
    shots: int
    within_alphabet: bool = False

    @property
    def name(self) -> str:
        """E.g. ``"5-way 1-shot"``, ``"20-way 1-shot, one alphabet"``."""
        return setting_name(self.ways, self.shots, self.within_alphabet)

    @classmethod
    def of(cls, setting) -> Setting:
        """A :class:`Setting` from itself or a ``(ways, shots)`` pair."""
        return setting if isinstance(setting, Setting) else cls(*setting)


#: The four standard settings of the course (classes from all the novel alphabets).
SETTINGS = (Setting(5, 1), Setting(5, 5), Setting(20, 1), Setting(20, 5))
#: Lake et al.'s one-shot task: 20 characters of one alphabet, one drawing each.
LAKE = Setting(20, 1, within_alphabet=True)
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
    alphabets: torch.Tensor | None = None,
    device: str | torch.device | None = None,
) -> list[dict]:
    """Evaluate ``methods`` in every setting; one row per method and setting.

    ``features [I, d]`` and ``labels [I]`` are the cached features and classes of the
    evaluation split; ``settings``: :class:`Setting` s or ``(ways, shots)`` pairs; a
    setting within one alphabet needs ``alphabets``, ``int64 [C]`` (each class's
    alphabet: :meth:`~fewshot_utils.data.splits.FewShotSplit.alphabet_index`).
    ``methods``: names, CLI keys or method objects (default: every method of
    :data:`~fewshot_utils.fewshot.methods.METHODS`, registered ones included).

    Each row holds ``method, setting, ways, shots, within_alphabet, episodes, accuracy,
    ci95, seconds`` (accuracy and interval in %) and ``paired_vs_prototype,
    paired_ci95``: the mean paired difference to the prototype classifier on the same
    episodes and its 95% interval, in points (``None`` when the prototype classifier is
    not among ``methods``; 0 for itself).
    ``device``: where the episodes are fine-tuned (default: the features' device; they are
    moved there once). The episodes are sampled on the CPU, so they are the same on every
    device.
    Every setting and method is checked before the first is evaluated (:func:`check_settings`).
    """
    methods = tuple(METHODS) if methods is None else tuple(methods)
    settings = check_settings(features, labels, settings, queries, episodes, alphabets)
    if not methods:
        raise ValueError("methods is empty: give at least one method, or None for all of them")
    for method in methods:
        resolve_method(method)  # an unknown one fails now, not after the first settings
    seed = check("seed", seed)
    if device is not None:
        features = features.to(device)
    rows = []
    for setting in settings:
        groups = alphabets if setting.within_alphabet else None
        sampled = sample_episodes(
            labels, setting.ways, setting.shots, queries, episodes, seed=seed, groups=groups
        )
        results = []
        for method in methods:
            name, _ = resolve_method(method)
            if progress:
                print(f"{setting.name}: {name}", flush=True)
            results.append(evaluate(features, sampled, method, chunk_size, seed, progress))
        baseline = next((result for result in results if result.method == REFERENCE), None)
        for result in results:
            row = {key: value for key, value in result.to_dict().items() if key in ROW_KEYS}
            row["setting"], row["within_alphabet"] = setting.name, setting.within_alphabet
            row["paired_vs_prototype"] = row["paired_ci95"] = None
            if baseline is not None:
                difference = paired_difference(result, baseline)
                row["paired_vs_prototype"] = difference.mean
                row["paired_ci95"] = 0.0 if result is baseline else difference.ci95
            rows.append(row)
    return rows


def alphabets_allow(
    split_alphabets: torch.Tensor, labels: torch.Tensor, setting: Setting, queries: int
) -> bool:
    """Whether some alphabet has ``setting.ways`` classes with ``shots + queries`` images."""
    counts = torch.bincount(labels)
    enough = torch.nonzero(counts >= setting.shots + queries).flatten()
    if len(enough) == 0:
        return False
    return int(torch.bincount(split_alphabets[enough]).max()) >= setting.ways


def check_settings(
    features, labels, settings, queries: int, episodes: int, alphabets=None
) -> list[Setting]:
    """Check every setting against the split before any is evaluated: the benchmark's
    numbers (:func:`~fewshot_utils.fewshot.episodes.check_episodes`), an alphabet for each
    class when a setting is within one alphabet, and ``features [I, d]`` (when given) with
    one row per label. Returns the settings as :class:`Setting` s."""
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
    checked = []
    for setting in settings:
        if not isinstance(setting, Setting | tuple | list) or (
            not isinstance(setting, Setting) and len(setting) != 2
        ):
            raise ValueError(f"a setting is (ways, shots), e.g. (5, 1), got {setting!r}")
        setting = Setting.of(setting)
        check_episodes(labels, setting.ways, setting.shots, queries, episodes)
        if setting.within_alphabet and alphabets is None:
            raise ValueError(
                f"{setting.name} needs each class's alphabet: pass alphabets=split.alphabet_index()"
            )
        checked.append(setting)
    return checked


# ----------------------------------------------------------------------------
# Published numbers
# ----------------------------------------------------------------------------


def _dhillon_2020(method: str, one_shot: float, five_shot: float) -> dict:
    """An entry of Dhillon et al. (2020): WRN-28-10 on miniImageNet, 5-way 1- and 5-shot."""
    return {
        "source": "Dhillon et al. 2020",
        "method": method,
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {"5-way 1-shot": one_shot, "5-way 5-shot": five_shot},
    }


def _lake_2015(method: str, backbone: str, error: float) -> dict:
    """An entry of Lake et al. (2015), who report an error rate (%) on :data:`LAKE`:
    the accuracy is ``100 - error``."""
    return {
        "source": "Lake et al. 2015",
        "method": method,
        "data": "Omniglot, 20-way 1-shot within an alphabet",
        "backbone": backbone,
        "accuracy": {LAKE.name: 100 - error},
    }


#: Published few-shot accuracies (%) the course compares with: one entry per method, by
#: setting name. Lake et al. (2015) report error rates on their within-alphabet task:
#: people 4.5%, Bayesian Program Learning 3.3%, a Siamese convnet 8.0%, a convnet 13.5%.
PUBLISHED = (
    {
        "source": "Snell et al. 2017",
        "method": "Prototypical Networks",
        "data": "Omniglot, Vinyals' split (rotations as extra classes)",
        "backbone": "Conv4",
        "accuracy": {
            "5-way 1-shot": 98.8,
            "5-way 5-shot": 99.7,
            "20-way 1-shot": 96.0,
            "20-way 5-shot": 98.9,
        },
    },
    _dhillon_2020("support-based init", 56.2, 73.3),
    _dhillon_2020("fine-tuning", 57.7, 78.2),
    _dhillon_2020("transductive fine-tuning", 65.7, 78.4),
    _lake_2015("people", "—", 4.5),
    _lake_2015("Bayesian Program Learning", "—", 3.3),
    _lake_2015("Siamese convnet (Koch et al.)", "convnet", 8.0),
    _lake_2015("convnet", "convnet", 13.5),
)
