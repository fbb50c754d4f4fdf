"""The benchmark: every method of the course in every setting, on the same episodes.

:func:`run_benchmark` samples ``episodes`` seeded episodes per setting (N-way
K-shot) once, evaluates every method on exactly those episodes, and adds each
method's paired difference against the prototype classifier. :func:`markdown_table`
turns the rows into the table of notebook 08: methods as rows, settings as
columns, cells ``97.1 ± 0.3``.
"""

from __future__ import annotations

import math

import torch

from fewshot_utils.episodes import sample_episodes
from fewshot_utils.evaluation import METHODS, evaluate, paired_difference, resolve_method

SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))


def run_benchmark(
    features: torch.Tensor,
    labels: torch.Tensor,
    episodes: int = 1000,
    settings=SETTINGS,
    methods=tuple(METHODS),
    queries: int = 15,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: bool = False,
) -> list[dict]:
    """Evaluate ``methods`` in every ``(ways, shots)`` setting; one row per method and setting.

    ``features [I, d]`` and ``labels [I]`` are the cached features and classes of
    the evaluation split. Each row holds ``method, ways, shots, episodes, accuracy,
    ci95, seconds`` (accuracy and interval in %) and ``paired_vs_prototype,
    paired_ci95``: the mean paired difference to the prototype classifier on the
    same episodes and its 95% interval, in points (``None`` when the prototype
    classifier is not among ``methods``; 0 for itself).
    """
    rows = []
    for ways, shots in settings:
        sampled = sample_episodes(labels, ways, shots, queries, episodes, seed=seed)
        results = []
        for method in methods:
            name, _ = resolve_method(method)
            if progress:
                print(f"{ways}-way {shots}-shot: {name}", flush=True)
            results.append(evaluate(features, sampled, method, chunk_size, seed, progress))
        baseline = next((result for result in results if result.config is None), None)
        for result in results:
            row = {
                key: value
                for key, value in result.to_dict().items()
                if key in ("method", "ways", "shots", "episodes", "accuracy", "ci95", "seconds")
            }
            row["paired_vs_prototype"] = row["paired_ci95"] = None
            if baseline is not None:
                difference = paired_difference(result, baseline)
                row["paired_vs_prototype"] = difference.mean
                row["paired_ci95"] = 0.0 if result is baseline else difference.ci95
            rows.append(row)
    return rows


def _cell(value: float | None, ci95: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = "+" if signed else ""
    text = f"{value:{sign}.{digits}f}"
    if ci95 is not None and not math.isnan(ci95):
        text += f" ± {ci95:.{digits}f}"
    return text


def markdown_table(rows: list[dict], paired: bool = False, digits: int | None = None) -> str:
    """A markdown table of :func:`run_benchmark` rows: methods x settings.

    Cells are ``accuracy ± ci95`` in % (``paired=True``: the paired difference to
    the prototype classifier, ``+0.56 ± 0.21`` points). The last column is the
    method's evaluation time in seconds, summed over the settings. ``digits``
    defaults to 1 for accuracies and 2 for paired differences.
    """
    if digits is None:
        digits = 2 if paired else 1
    methods = list(dict.fromkeys(row["method"] for row in rows))
    settings = list(dict.fromkeys((row["ways"], row["shots"]) for row in rows))
    cells = {(row["method"], row["ways"], row["shots"]): row for row in rows}
    header = ["method"] + [f"{ways}-way {shots}-shot" for ways, shots in settings] + ["seconds"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for method in methods:
        line = [method]
        seconds = 0.0
        for ways, shots in settings:
            row = cells.get((method, ways, shots))
            if row is None:
                line.append("")
                continue
            seconds += row["seconds"]
            if paired and method == "prototype":
                line.append("reference")
            elif paired:
                line.append(_cell(row["paired_vs_prototype"], row["paired_ci95"], digits, True))
            else:
                line.append(_cell(row["accuracy"], row["ci95"], digits))
        line.append(f"{seconds:.1f}")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines) + "\n"
