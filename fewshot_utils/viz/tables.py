"""Markdown tables of results, all written by one function, :func:`markdown_table`.

* :func:`benchmark_table`: methods x settings, ``97.1 ± 0.3`` (or paired differences);
* :func:`comparison_table`: one row per setting and method, with paired differences;
* :func:`verdict_table`: helps / hurts / unclear for every method and setting;
* :func:`published_table`: the published numbers beside ours;
* :func:`fine_tuning_table`, :func:`trace_table`: fine-tuning at a few of its steps (the
  numbers behind :func:`~fewshot_utils.viz.fine_tuning.fine_tuning_curves`, and what Adam
  and the entropy term do, from :func:`~fewshot_utils.fewshot.collapse.trace_fine_tuning`);
* :func:`sweep_table`: the numbers behind :func:`~fewshot_utils.viz.fine_tuning.sweep_figure`.

Cells ``mean ± ci95``: a mean with its 95% confidence interval (:func:`mean_ci_text`).
A notebook shows a table with ``Markdown(table)``; the CLI prints it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from fewshot_utils.fewshot.benchmark import PUBLISHED
from fewshot_utils.fewshot.evaluation import (
    EvaluationResult,
    paired_difference,
    setting_name,
    verdict,
)
from fewshot_utils.fewshot.methods import REFERENCE


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1
) -> str:
    """A Markdown table: ``header`` and ``rows`` of cells; the first ``text_columns`` columns
    are left-aligned, the others (numbers) right-aligned."""
    rule = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def mean_ci_text(value: float | None, ci95: float | None, digits: int, signed: bool = False) -> str:
    """``97.1 ± 0.3`` (``signed``: ``+0.56 ± 0.21``); ``—`` for no value; no ``±`` for a
    ``nan`` interval."""
    if value is None:
        return "—"
    sign = "+" if signed else ""
    text = f"{value:{sign}.{digits}f}"
    if ci95 is not None and not math.isnan(ci95):
        text += f" ± {ci95:.{digits}f}"
    return text


def setting_of(row: dict) -> str:
    """A benchmark row's setting, e.g. ``"5-way 1-shot"`` (rows without a ``setting``:
    named from their ways and shots)."""
    return row.get("setting") or setting_name(row["ways"], row["shots"])


def _settings(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(setting_of(row) for row in rows))


def _cells(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["method"], setting_of(row)): row for row in rows}


def _methods(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["method"] for row in rows))


def benchmark_table(rows: list[dict], paired: bool = False, digits: int | None = None) -> str:
    """A table of :func:`fewshot_utils.fewshot.benchmark.run_benchmark` rows: methods x settings.

    Cells are ``accuracy ± ci95`` in % (``paired=True``: the paired difference to
    the prototype classifier, ``+0.56 ± 0.21`` points). The last column is the
    method's evaluation time in seconds, summed over the settings. ``digits``
    defaults to 1 for accuracies and 2 for paired differences.
    """
    if digits is None:
        digits = 2 if paired else 1
    settings, cells = _settings(rows), _cells(rows)
    header = ["method", *settings, "seconds"]
    lines = []
    for method in _methods(rows):
        line = [method]
        seconds = 0.0
        for setting in settings:
            row = cells.get((method, setting))
            if row is None:
                line.append("")
                continue
            seconds += row["seconds"]
            if paired and method == REFERENCE:
                line.append("reference")
            elif paired:
                line.append(
                    mean_ci_text(row["paired_vs_prototype"], row["paired_ci95"], digits, True)
                )
            else:
                line.append(mean_ci_text(row["accuracy"], row["ci95"], digits))
        line.append(f"{seconds:.1f}")
        lines.append(line)
    return markdown_table(header, lines)


def comparison_table(
    results: Mapping[str, Mapping[str, EvaluationResult]],
    against: Sequence[str] = (REFERENCE,),
    digits: int = 2,
) -> str:
    """Accuracy ± 95% CI and paired differences, one row per setting and method.

    ``results``: from :func:`fewshot_utils.fewshot.evaluation.evaluate_methods`. For each
    name in ``against`` a column gives ``method - that method`` on the same episodes, in
    points, with the 95% interval of the paired difference (``—`` for itself or when it is
    missing). A difference whose interval excludes 0 is shown in **bold**.
    """
    header = ["setting", "method", "accuracy (%)"] + [f"Δ vs {name} (points)" for name in against]
    lines = []
    for setting, row in results.items():
        for name, result in row.items():
            cells = [setting, name, mean_ci_text(result.accuracy, result.ci95, digits)]
            for reference in against:
                if reference == name or reference not in row:
                    cells.append("—")
                    continue
                difference = paired_difference(result, row[reference])
                text = mean_ci_text(difference.mean, difference.ci95, digits, signed=True)
                cells.append(f"**{text}**" if difference.verdict != "unclear" else text)
            lines.append(cells)
    return markdown_table(header, lines, text_columns=2)


def verdict_table(rows: list[dict], judge=verdict) -> str:
    """Each method (rows) in each setting (columns): ``+0.56 ± 0.21 **helps**``.

    ``judge(mean, ci95)`` gives the verdict (default
    :func:`fewshot_utils.fewshot.evaluation.verdict`).
    """
    settings, cells = _settings(rows), _cells(rows)
    header = ["method", *settings]
    lines = []
    for method in (m for m in _methods(rows) if m != REFERENCE):
        line = [method]
        for setting in settings:
            row = cells.get((method, setting))
            if row is None or row["paired_vs_prototype"] is None:
                line.append("")
                continue
            mean, ci95 = row["paired_vs_prototype"], row["paired_ci95"]
            line.append(f"{mean:+.2f} ± {ci95:.2f} **{judge(mean, ci95)}**")
        lines.append(line)
    return markdown_table(header, lines, text_columns=len(header))


def published_table(
    rows: list[dict],
    dataset: str = "Omniglot, Lake's split",
    ours=(REFERENCE, "W = M + entropy + cosine"),
    backbone: str = "Conv4",
) -> str:
    """The published numbers (:data:`~fewshot_utils.fewshot.benchmark.PUBLISHED`), then
    ours: the methods ``ours`` of ``rows``, with CIs, computed on ``dataset``."""
    settings, cells = _settings(rows), _cells(rows)
    header = ["source", "method", "data", "backbone", *settings]
    lines = []
    for entry in PUBLISHED:
        if not set(entry["accuracy"]) & set(settings):
            continue
        numbers = [
            f"{entry['accuracy'][setting]:.1f}" if setting in entry["accuracy"] else "—"
            for setting in settings
        ]
        lines.append([entry["source"], entry["method"], entry["data"], entry["backbone"], *numbers])
    for method in ours:
        numbers = []
        for setting in settings:
            row = cells.get((method, setting))
            numbers.append("—" if row is None else mean_ci_text(row["accuracy"], row["ci95"], 1))
        lines.append(["**this course**", method, dataset, backbone, *numbers])
    return markdown_table(header, lines, text_columns=4)


def _steps(steps: Sequence[int], available: int) -> list[int]:
    """The asked steps that were run (row ``t`` of a ``[steps + 1, E]`` field)."""
    chosen = [int(t) for t in steps if 0 <= int(t) < available]
    if not chosen:
        raise ValueError(
            f"none of the steps {list(steps)} was run: choose from 0 .. {available - 1}"
        )
    return chosen


def _at(values, step: int, episode: int | None) -> float:
    """Row ``step`` of a ``[steps + 1, E]`` field: one episode's value, or the mean."""
    row = values[step]
    return float(row.mean() if episode is None else row[episode])


def fine_tuning_table(histories, steps: Sequence[int] = (0, 1, 10, 100)) -> str:
    """Support loss, query accuracy and query entropy at some fine-tuning steps, mean over
    the episodes: one row per history and step.

    ``histories``: ``{name: FineTuningHistory}`` (fields ``[steps + 1, E]``, e.g. from
    :func:`~fewshot_utils.fewshot.inspection.record_fine_tuning`), the curves of
    :func:`~fewshot_utils.viz.fine_tuning.fine_tuning_curves` as numbers.
    """
    header = ["", "step", "support loss (nats)", "query accuracy (%)", "query entropy (nats)"]
    lines = []
    for name, history in histories.items():
        for t in _steps(steps, history.support_loss.shape[0]):
            accuracy = history.query_accuracy
            lines.append(
                [
                    name,
                    str(t),
                    f"{_at(history.support_loss, t, None):.3f}",
                    "—" if accuracy is None else f"{_at(accuracy, t, None):.1f}",
                    f"{_at(history.query_entropy, t, None):.2f}",
                ]
            )
    return markdown_table(header, lines, text_columns=1)


#: The columns :func:`trace_table` can show: ``{key: (header, field, format)}``.
TRACE_COLUMNS = {
    "step": ("Adam's step per number", "step_size", "{:.4f}"),
    "gradient": ("gradient per number", "gradient_size", "{:.5f}"),
    "length": ("mean \\|w_n\\|", "weight_length", "{:.2f}"),
    "top": ("queries in the top class (%)", "top_share", "{:.1f}"),
    "pulled": ("queries pulled to it (%)", "pulled", "{:.1f}"),
    "entropy": ("entropy's push on its bias", "entropy_push", "{:+.4f}"),
    "support": ("support loss's push", "support_push", "{:+.4f}"),
    "accuracy": ("query accuracy (%)", "query_accuracy", "{:.1f}"),
}


def trace_table(
    traces,
    steps: Sequence[int] = (0, 1, 2, 5, 10, 20, 50, 100),
    columns: Sequence[str] = tuple(TRACE_COLUMNS),
    episode: int | None = None,
) -> str:
    """Fine-tuning step by step: one row per trace and step, ``columns`` from
    :data:`TRACE_COLUMNS`.

    ``traces``: ``{name: FineTuningTrace}`` from
    :func:`~fewshot_utils.fewshot.collapse.trace_fine_tuning`; ``episode``: one episode's
    numbers, or (``None``) the mean over the episodes. "The top class" is the class most of
    the episode's queries are predicted as at that step.
    """
    unknown = [c for c in columns if c not in TRACE_COLUMNS]
    if unknown:
        raise ValueError(f"unknown columns {unknown}: choose from {', '.join(TRACE_COLUMNS)}")
    header = ["", "step"] + [TRACE_COLUMNS[c][0] for c in columns]
    lines = []
    for name, trace in traces.items():
        for t in _steps(steps, trace.step_size.shape[0]):
            line = [name, str(t)]
            for column in columns:
                _, field, form = TRACE_COLUMNS[column]
                values = getattr(trace, field)
                line.append("—" if values is None else form.format(_at(values, t, episode)))
            lines.append(line)
    return markdown_table(header, lines, text_columns=1)


def sweep_table(values: Sequence, series, name: str, reference=None, digits: int = 1) -> str:
    """The numbers of :func:`~fewshot_utils.viz.fine_tuning.sweep_figure`: one row per value
    of the parameter ``name``, one column per series, ``mean ± ci95`` in %.

    ``series``: ``{series name: [EvaluationResult or (mean, ci95), one per value]}``;
    ``reference``: the prototype classifier on the same episodes, a last row.
    """
    header = [name, *series]
    lines = []
    for i, value in enumerate(values):
        line = [f"{value:g}" if isinstance(value, int | float) else str(value)]
        for results in series.values():
            line.append(mean_ci_text(*_mean_and_ci(results[i]), digits))
        lines.append(line)
    if reference is not None:
        text = mean_ci_text(*_mean_and_ci(reference), digits)
        lines.append(["prototype classifier", *[text] * len(series)])
    return markdown_table(header, lines, text_columns=1)


def _mean_and_ci(result) -> tuple[float, float]:
    if hasattr(result, "accuracy"):
        return float(result.accuracy), float(result.ci95)
    mean, ci = result
    return float(mean), float(ci)
