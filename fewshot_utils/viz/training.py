"""Figures and tables of pretraining: loss, accuracy and the few-shot probe per epoch.

* :func:`training_curves`: loss, accuracy and few-shot probe per epoch, for one or
  several pretraining histories (the rows of :func:`fewshot_utils.training.loop.train`);
* :func:`history_table`: the same histories as a text table, one line per epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fewshot_utils.viz.style import new_figure, series_colour

#: History keys of few-shot probes start with this (see :mod:`fewshot_utils.fewshot.probe`).
PROBE_PREFIX = "fewshot_"


def _probe_keys(history: list[dict]) -> list[str]:
    keys = []
    for row in history:
        for key in row:
            if key.startswith(PROBE_PREFIX) and not key.endswith("_ci95") and key not in keys:
                keys.append(key)
    return keys


def _probe_label(key: str) -> str:
    """``fewshot_5way_1shot`` -> ``5-way 1-shot``."""
    parts = key[len(PROBE_PREFIX) :].split("_")
    return " ".join(p.replace("way", "-way").replace("shot", "-shot") for p in parts)


PANELS = ("loss", "accuracy", "fewshot")


def training_curves(
    histories: list[dict] | Mapping[str, list[dict]],
    panels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Pretraining curves per epoch, one panel each (the panels that have data):

    * ``"loss"``: the training loss;
    * ``"accuracy"``: train (dashed) and validation (solid) accuracy in %;
    * ``"fewshot"``: few-shot probe accuracy on novel classes (keys
      ``fewshot_<N>way_<K>shot``, with error bars from ``..._ci95`` when present).

    ``histories``: one history (a list of rows with ``epoch`` and those keys) or
    ``{name: history}`` to compare several runs in the same panels.
    """
    if not isinstance(histories, Mapping):
        histories = {"": histories}
    if not histories or not any(histories.values()):
        raise ValueError("training_curves needs at least one history with at least one epoch")
    available = []
    rows = [row for history in histories.values() for row in history]
    if any("loss" in row for row in rows):
        available.append("loss")
    if any("train_accuracy" in row or "validation_accuracy" in row for row in rows):
        available.append("accuracy")
    if any(_probe_keys(history) for history in histories.values()):
        available.append("fewshot")
    for panel in panels or ():
        if panel not in PANELS:
            raise ValueError(f"unknown panel {panel!r}: choose from {', '.join(PANELS)}")
    chosen = [p for p in (panels or available) if p in available]
    if not chosen:
        raise ValueError(f"the histories have no data for the panels {list(panels or PANELS)}")

    fig = new_figure(figsize=(4.2 * len(chosen), 3.2))
    axes = fig.subplots(1, len(chosen), squeeze=False)
    for panel, ax in zip(chosen, axes.flat, strict=True):
        for i, (name, history) in enumerate(histories.items()):
            colour = series_colour(i)
            prefix = f"{name}: " if name else ""
            epochs = [row["epoch"] for row in history]
            if panel == "loss":
                ax.plot(
                    epochs,
                    [row.get("loss", np.nan) for row in history],
                    "o-",
                    color=colour,
                    label=name or None,
                )
            elif panel == "accuracy":
                for key, style, face, what in (
                    ("train_accuracy", "o--", "none", "train"),  # dashed, hollow markers
                    ("validation_accuracy", "o-", colour, "validation"),
                ):
                    if any(key in row for row in history):
                        ax.plot(
                            epochs,
                            [row.get(key, np.nan) for row in history],
                            style,
                            color=colour,
                            markerfacecolor=face,
                            label=prefix + what,
                        )
            else:
                for j, key in enumerate(_probe_keys(history)):
                    ci = [row.get(f"{key}_ci95", 0.0) for row in history]
                    ax.errorbar(
                        epochs,
                        [row.get(key, np.nan) for row in history],
                        yerr=ci,
                        fmt="os^v"[j % 4] + "-",
                        capsize=3,
                        color=colour,
                        label=prefix + _probe_label(key),
                    )
        ax.set_xlabel("epoch")
        ax.set_title(
            {
                "loss": "training loss",
                "accuracy": "pretraining task, base classes: accuracy (%)",
                "fewshot": "few-shot probe, novel classes (%)",
            }[panel],
            fontsize=10,
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, handlelength=3.5)  # long enough to show dashed vs solid
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def history_table(history: list[dict]) -> str:
    """A pretraining history as text: one line per epoch with loss, accuracies (%),
    few-shot probes (% ± 95% CI) and seconds; columns that some row lacks are left out."""
    if not history:
        raise ValueError("history_table needs at least one epoch")
    columns = [("epoch", lambda row: f"{row['epoch']:d}")]  # (header, cell of a row)
    for key, header, digits in (
        ("loss", "loss", 3),
        ("train_accuracy", "train %", 1),
        ("validation_accuracy", "validation %", 1),
    ):
        if all(key in row for row in history):
            columns.append((header, lambda row, k=key, d=digits: f"{row[k]:.{d}f}"))
    for key in _probe_keys(history):
        if all(key in row for row in history):
            columns.append(
                (
                    _probe_label(key) + " %",
                    lambda row, k=key: (
                        f"{row[k]:.1f}"
                        + (f" ± {row[k + '_ci95']:.1f}" if f"{k}_ci95" in row else "")
                    ),
                )
            )
    if all("seconds" in row for row in history):
        columns.append(("seconds", lambda row: f"{row['seconds']:.1f}"))
    table = [[header for header, _ in columns]]
    table += [[cell(row) for _, cell in columns] for row in history]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in table
    )
