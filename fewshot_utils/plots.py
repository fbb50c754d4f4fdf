"""The course's figures: every function draws one figure and returns the matplotlib ``Figure``.

* :func:`image_grid`: a grid of images, optionally titled;
* :func:`episode_figure`: one N-way K-shot episode, its support set one row per
  class and its queries beside it;
* :func:`pairs_figure`: pairs of images, labelled "same" or "different";
* :func:`training_curves`: loss, accuracy and few-shot probe per epoch, for one
  or several pretraining histories (the rows of
  :func:`fewshot_utils.pretraining.pretrain`);
* :func:`accuracy_bars`: mean accuracies with their 95% confidence intervals;
* :func:`history_table`: the same histories as a text table, one line per epoch.

Images are ``[I, H, W]`` tensors or arrays: ``uint8`` (0..255) or floats (shown
with their own range). In a notebook the returned figure is displayed by
Jupyter; in a script call ``fig.savefig(...)`` or ``plt.show()``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: History keys of few-shot probes start with this (see :mod:`fewshot_utils.probes`).
PROBE_PREFIX = "fewshot_"


def _as_array(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    return np.asarray(image)


def _wrap(title: str, size: float) -> str:
    """Break a long title (underscores read as spaces) into lines that fit ``size`` inches."""
    return textwrap.fill(title.replace("_", " "), width=max(6, int(13 * size)))


def _show(ax, image, title: str | None = None, fontsize: float = 8) -> None:
    array = _as_array(image)
    if array.dtype == np.uint8:
        ax.imshow(array, cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(array, cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize)


def image_grid(
    images,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 1.0,
) -> Figure:
    """Show ``images`` (``[I, H, W]``) in a grid of ``ncols`` columns (default: up to 10).

    ``titles``: one per image (optional; long ones are wrapped, underscores shown as
    spaces); ``title``: the figure's title;
    ``size``: inches per image. One axes per image, in reading order.
    """
    count = len(images)
    if count == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} images: give one per image")
    ncols = min(count, ncols or 10)
    nrows = math.ceil(count / ncols)
    lines = max((_wrap(t, size).count("\n") + 1 for t in titles), default=0) if titles else 0
    extra = 0.15 * lines
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, (size + extra) * nrows + (0.4 if title else 0)),
        squeeze=False,
    )
    for i, ax in enumerate(axes.flat):
        if i < count:
            _show(ax, images[i], None if titles is None else _wrap(titles[i], size))
        else:
            fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)  # Jupyter shows the returned figure once; avoid a second copy
    return fig


def episode_figure(
    images,
    episodes,
    episode: int = 0,
    class_names: Sequence[str] | None = None,
    queries_per_class: int = 3,
    reveal: bool = True,
    seed: int = 0,
    size: float = 0.9,
) -> Figure:
    """One episode: the support set (one row per class, ``K`` shots) and some of its queries.

    ``images``: the split's images ``[I, H, W]``; ``episodes``: an
    :class:`~fewshot_utils.episodes.Episodes`; ``episode``: which one;
    ``class_names``: the split's class names (the row labels show the episode
    label ``n`` and the class name); ``queries_per_class``: how many of each
    class's queries to show (at most ``Q``), shuffled so that their position
    gives nothing away; ``reveal``: title each query with its true class
    (the classifier never sees it; it is only used to score the answer).

    Draws ``N·K`` support images and ``N·min(queries_per_class, Q)`` query images.
    """
    support = episodes.support[episode]  # [N, K]
    query = episodes.query[episode]  # [N, Q]
    classes = episodes.classes[episode]  # [N]
    ways, shots = support.shape
    shown = max(1, min(queries_per_class, query.shape[1]))
    query_index = query[:, :shown].reshape(-1)
    query_label = torch.arange(ways).repeat_interleave(shown)
    order = torch.randperm(len(query_index), generator=torch.Generator().manual_seed(seed))
    query_index, query_label = query_index[order], query_label[order]

    # Layout in inches: a label margin on the left, rows of images with room for the
    # query titles, a header line on top.
    gap, left, top, row = 0.5, 2.1, 0.75, 1.3
    width = left + size * (shots + gap + shown) * 1.1 + 0.1
    height = top + size * ways * row + 0.1
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(
        ways,
        shots + 1 + shown,
        width_ratios=[1] * shots + [gap] + [1] * shown,
        left=left / width,
        right=1 - 0.1 / width,
        top=1 - top / height,
        bottom=0.1 / height,
        wspace=0.1,
        hspace=0.35,
    )
    support_axes, query_axes = [], []
    for n in range(ways):
        for k in range(shots):
            ax = fig.add_subplot(grid[n, k])
            support_axes.append(ax)
            _show(ax, images[int(support[n, k])])
            if k == 0:
                name = ""
                if class_names is not None:
                    name = "\n" + class_names[int(classes[n])].replace("/", "\n")
                ax.set_ylabel(f"class {n}{name}", rotation=0, ha="right", va="center", fontsize=8)
        for j in range(shown):
            i = n * shown + j
            ax = fig.add_subplot(grid[n, shots + 1 + j])
            query_axes.append(ax)
            title = f"is {int(query_label[i])}" if reveal else "?"
            _show(ax, images[int(query_index[i])], title, fontsize=7)
    header_y = 1 - 0.45 / height
    for first, last, text in (
        (support_axes[0], support_axes[shots - 1], f"support set: {shots} per class"),
        (query_axes[0], query_axes[shown - 1], "queries" + (" (true class)" if reveal else "")),
    ):
        centre = (first.get_position().x0 + last.get_position().x1) / 2
        fig.text(centre, header_y, text, ha="center", va="center", fontsize=9)
    fig.suptitle(
        f"{ways}-way {shots}-shot episode",
        x=0.01,
        y=1 - 0.08 / height,
        ha="left",
        va="top",
        fontsize=10,
        fontweight="bold",
    )
    plt.close(fig)
    return fig


def pairs_figure(images, pairs, count: int = 8, size: float = 1.0) -> Figure:
    """The first ``count`` pairs as two rows (first image above, second below), each column
    titled "same" or "different". ``pairs``: a :class:`~fewshot_utils.siamese.Pairs`."""
    count = min(count, len(pairs))
    if count == 0:
        raise ValueError("pairs_figure needs at least one pair")
    fig, axes = plt.subplots(2, count, figsize=(size * count, 2 * size + 0.4), squeeze=False)
    for j in range(count):
        same = bool(pairs.same[j] > 0.5)
        _show(axes[0, j], images[int(pairs.first[j])], "same" if same else "different")
        _show(axes[1, j], images[int(pairs.second[j])])
    fig.tight_layout()
    plt.close(fig)
    return fig


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

    fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, ax in zip(chosen, axes.flat, strict=True):
        for i, (name, history) in enumerate(histories.items()):
            colour = colours[i % len(colours)]
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
    plt.close(fig)
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


def _setting(result) -> str:
    return f"{result.ways}-way {result.shots}-shot"


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

    ``results``: a list of :class:`~fewshot_utils.evaluation.EvaluationResult`
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
    fig, ax = plt.subplots(figsize=(max(3.5, 1.2 + 1.1 * len(groups) * len(labels)), 3.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
                color=colours[j % len(colours)],
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
    plt.close(fig)
    return fig
