"""Figures of results: accuracies with confidence intervals, paired differences, predictions.

* :func:`accuracy_bars`: mean accuracies with their 95% confidence intervals;
* :func:`paired_differences_figure`: each method's paired difference to the prototype
  classifier, as an interval around 0, coloured by its verdict;
* :func:`probability_figure`: your own queries with one bar per class, for one or several
  methods side by side (the results of :func:`fewshot_utils.fewshot.predict.predict`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from fewshot_utils.data.images import open_image
from fewshot_utils.fewshot.evaluation import setting_name, verdict
from fewshot_utils.fewshot.methods import REFERENCE, resolve_method
from fewshot_utils.fewshot.prototypes import PrototypeMethod
from fewshot_utils.viz.style import RIGHT, WRONG, method_colour, new_figure, show_image
from fewshot_utils.viz.tables import setting_of

#: The predicted class's bar when the query's true class is unknown.
PREDICTED = "tab:blue"


def _setting(result) -> str:
    return setting_name(result.ways, result.shots)


def _bar_rows(results) -> list[tuple[str, str, float, float]]:
    """``(group, label, mean, ci95)`` rows from the forms :func:`accuracy_bars` accepts."""
    rows = []
    if isinstance(results, Mapping):
        for label, value in results.items():
            if hasattr(value, "accuracy"):
                rows.append((_setting(value), label, value.accuracy, value.ci95))
            elif (
                isinstance(value, Sequence)
                and len(value) == 2
                and all(isinstance(v, int | float) for v in value)
            ):
                rows.append(("", label, float(value[0]), float(value[1])))
            elif isinstance(value, Sequence) and all(hasattr(v, "accuracy") for v in value):
                rows.extend((_setting(v), label, v.accuracy, v.ci95) for v in value)
            else:
                raise ValueError(
                    f"{label!r}: give an EvaluationResult, a list of them, or (mean, ci95)"
                )
    else:
        for value in results:
            rows.append((_setting(value), value.method, value.accuracy, value.ci95))
    if not rows:
        raise ValueError("accuracy_bars needs at least one result")
    return rows


def accuracy_bars(
    results,
    title: str | None = None,
    ylabel: str = "accuracy (%)",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Bars of mean accuracy with 95% confidence intervals as error bars.

    ``results``: a list of :class:`~fewshot_utils.fewshot.evaluation.EvaluationResult`
    (bars labelled by method, grouped by N-way K-shot setting), or a mapping
    ``{label: result}``, ``{label: [results of several settings]}`` or
    ``{label: (mean, ci95)}``. Each bar is annotated ``mean ± ci``. The y-axis
    starts near the lowest interval (not at 0, unless ``ylim`` says so), because
    the accuracies compared in the course are all high: read the numbers.
    """
    rows = _bar_rows(results)
    groups = list(dict.fromkeys(row[0] for row in rows))
    labels = list(dict.fromkeys(row[1] for row in rows))
    width = 0.8 / len(labels)
    fig = new_figure(figsize=(max(3.5, 1.2 + 1.1 * len(groups) * len(labels)), 3.4))
    ax = fig.subplots()
    seen: set[str] = set()
    for j, label in enumerate(labels):
        for g, group in enumerate(groups):
            found = [row for row in rows if row[0] == group and row[1] == label]
            if not found:
                continue
            _, _, mean, ci = found[0]
            x = g + (j - (len(labels) - 1) / 2) * width
            ax.bar(
                x,
                mean,
                width * 0.9,
                yerr=0 if math.isnan(ci) else ci,
                capsize=4,
                color=method_colour(label, j),
                label=None if label in seen else label,
            )
            seen.add(label)
            ax.annotate(
                f"{mean:.1f}\n±{ci:.1f}",
                (x, mean + (0 if math.isnan(ci) else ci)),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(groups)), groups if any(groups) else [""] * len(groups))
    if ylim is None:
        lowest = min(row[2] - (0 if math.isnan(row[3]) else row[3]) for row in rows)
        highest = max(row[2] + (0 if math.isnan(row[3]) else row[3]) for row in rows)
        bottom = max(0.0, 5 * math.floor((lowest - 5) / 5))
        ylim = (bottom, max(100.0, highest) + 0.12 * (max(100.0, highest) - bottom))
    ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def paired_differences_figure(rows: list[dict], title: str | None = None) -> Figure:
    """One panel per setting: each method's paired difference to the prototypes, ``d ± ci95``.

    A dot and its 95% interval per method, a line at 0; green when the interval is
    above 0 (helps), red when below (hurts), grey when it contains 0 (unclear).
    """
    settings = list(dict.fromkeys(setting_of(row) for row in rows))
    methods = [m for m in dict.fromkeys(row["method"] for row in rows) if m != REFERENCE]
    if not methods:
        raise ValueError("the rows hold only the prototype classifier: nothing to compare")
    cells = {(row["method"], setting_of(row)): row for row in rows}
    colours = {"helps": RIGHT, "hurts": WRONG, "unclear": "grey"}
    size = (2.3 * len(settings) + 2.2, 0.42 * len(methods) + 1.2)
    fig = new_figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(settings), sharey=True))
    positions = np.arange(len(methods))[::-1]
    for ax, setting in zip(axes, settings, strict=True):
        ax.axvline(0, color="black", linewidth=0.8)
        for y, method in zip(positions, methods, strict=True):
            row = cells.get((method, setting))
            if row is None or row["paired_vs_prototype"] is None:
                continue
            mean, ci95 = row["paired_vs_prototype"], row["paired_ci95"]
            ci95 = 0.0 if math.isnan(ci95) else ci95
            colour = colours[verdict(mean, ci95)]
            ax.errorbar(mean, y, xerr=ci95, fmt="o", color=colour, capsize=3, markersize=4)
        ax.set_title(setting.replace(", ", ",\n"), fontsize=9)
        ax.set_xlabel("points vs prototype", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, methods, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def true_class(query: str | os.PathLike, class_names) -> str | None:
    """The query's class when its file is named after one (``queries/cow.jpg`` -> ``"cow"``)."""
    stem = Path(query).stem
    return stem if stem in class_names else None


def method_label(method) -> str:
    """How a method is named in figures, with the scale of its softmax."""
    name, found = resolve_method(method)
    if isinstance(found, PrototypeMethod):
        return f"{name} (s = {found.scale:g})"
    if getattr(found, "classifier", None) == "cosine":
        return f"{name} (s = {found.scale:g})"
    return name


def probability_figure(
    results: Mapping[str, list[dict]] | list[dict], images: Mapping[str, Image.Image] | None = None
) -> Figure:
    """Each query (a row): its image, then one bar chart of class probabilities per method.

    ``results``: what :func:`fewshot_utils.fewshot.predict.predict` returns, or
    ``{method: results}`` (e.g. from :func:`fewshot_utils.fewshot.predict.compare_methods`;
    a method's name is shown with its softmax's scale), all for the same queries. The
    predicted class's bar is coloured: green/red when the query's file is named after its
    true class (:func:`true_class`), else blue.
    ``images``: ``{query: PIL image}``, default: open each query's file.
    """
    if not isinstance(results, Mapping):
        results = {"": list(results)}
    labels = list(results)
    titles = [_method_title(label) for label in labels]
    first = results[labels[0]]
    if not first:
        raise ValueError("no results to draw: classify at least one query")
    rows, cols = len(first), 1 + len(labels)
    classes = list(first[0]["probabilities"])
    height = max(1.6, 0.28 * len(classes) + 0.8)
    fig = new_figure(figsize=(2.0 + 3.4 * len(labels), height * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, width_ratios=[1] + [2.2] * len(labels)))
    axes = axes.reshape(rows, cols)
    for row, result in enumerate(first):
        query = result["query"]
        image = images[query] if images is not None else open_image(query, "RGB")
        truth = true_class(query, classes)
        show_image(axes[row, 0], image, Path(query).name, fontsize=8)
        for col, label in enumerate(labels, start=1):
            ax = axes[row, col]
            found = results[label][row]
            probabilities = [found["probabilities"][name] for name in classes]
            predicted = found["predicted"]
            colour = PREDICTED if truth is None else (RIGHT if predicted == truth else WRONG)
            colours = [colour if name == predicted else "lightgrey" for name in classes]
            positions = np.arange(len(classes))[::-1]
            bars = ax.barh(positions, probabilities, color=colours, height=0.7)
            ax.bar_label(bars, [f"{p:.2f}" for p in probabilities], fontsize=7, padding=2)
            ax.set_yticks(positions, classes, fontsize=8)
            ax.set_xlim(0, 1.15)
            ax.set_xticks([0, 0.5, 1])
            ax.tick_params(axis="x", labelsize=7)
            if row == 0 and label:
                ax.set_title(titles[col - 1], fontsize=9)
    return fig


def _method_title(label: str) -> str:
    """A method's name with its scale (:func:`method_label`); any other label as it is."""
    try:
        return method_label(label)
    except ValueError:
        return label
