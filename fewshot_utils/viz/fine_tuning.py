"""Figures of fine-tuning: curves per step, where the predictions go, sweeps.

* :func:`fine_tuning_curves`: support loss, query accuracy and query entropy per Adam
  step (a :class:`~fewshot_utils.fewshot.fine_tuning.FineTuningHistory`), with the
  prototype classifier as a dashed line;
* :func:`predicted_class_histogram`: the share of an episode's queries given to its
  most-predicted class, its second, ... (a collapse shows as one tall bar);
* :func:`sweep_figure`: accuracy against one setting, with 95% confidence intervals;
* :func:`fine_tuning_figure`: the fine-tuning explorer's state (notebook 06).

Lines and bars take the colour of their method (:func:`fewshot_utils.viz.style.method_colour`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.evaluation import mean_and_ci
from fewshot_utils.fewshot.inspection import predicted_class_shares
from fewshot_utils.fewshot.methods import resolve_method
from fewshot_utils.fewshot.softmax_classifier import FineTuningHistory
from fewshot_utils.viz.style import (
    METHOD_COLOURS,
    PROTOTYPE_COLOUR,
    VARIANT_HATCH,
    method_colour,
    method_style,
    new_figure,
)


def curve_mean_and_ci(values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean over episodes and its 95% interval, per step: ``[T, E] -> ([T], [T])``
    (:func:`~fewshot_utils.fewshot.evaluation.mean_and_ci` along the episodes; ``nan``
    intervals for a single episode)."""
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() == 1:
        values = values.unsqueeze(1)
    mean, ci = mean_and_ci(values, dim=1)
    return mean.cpu().numpy(), ci.cpu().numpy()


CURVE_PANELS = {
    "support_loss": "support loss $L_{CE}$ (nats)",
    "query_accuracy": "query accuracy (%)",
    "query_entropy": "mean query entropy (nats)",
}


def _as_histories(histories) -> dict[str, FineTuningHistory]:
    if isinstance(histories, FineTuningHistory):
        return {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("give a FineTuningHistory or a non-empty {name: FineTuningHistory}")
    for name, history in histories.items():
        if not isinstance(history, FineTuningHistory):
            raise ValueError(
                f"{name!r} is a {type(history).__name__}, not a FineTuningHistory: fine-tune "
                "with record=True (or use record_fine_tuning) and pass classifier.history"
            )
    return dict(histories)


def accuracy_zoom(
    curves: Sequence[np.ndarray], references: Sequence[float] = (), skip: float = 0.2
) -> tuple[float, float]:
    """Y-limits (%) that show where accuracy curves settle, next to reference lines.

    The bottom is 2 points below the lowest of the ``references`` and of every curve
    after its first ``skip`` fraction of steps (a random start climbs from chance
    there), rounded down to a whole point; the top is 1 point above the highest,
    at most 100.5.
    """
    values = [float(r) for r in references]
    for curve in curves:
        curve = np.asarray(curve, dtype=float)
        values.extend(curve[int(skip * (len(curve) - 1)) :].tolist())
    if not values:
        return 0.0, 100.5
    return math.floor(min(values) - 2), min(100.5, max(values) + 1)


def fine_tuning_curves(
    histories: FineTuningHistory | Mapping[str, FineTuningHistory],
    reference: float | Mapping[str, float] | None = None,
    panels: Sequence[str] | None = None,
    title: str | None = None,
    log_loss: bool = True,
    zoom: bool = True,
) -> Figure:
    """Support loss, query accuracy and query entropy per fine-tuning step, mean over episodes.

    ``histories``: one history or ``{name: history}`` (one colour each), each
    ``[steps + 1, E]`` from ``fine_tune(..., record=True)``; a method's name gets its
    colour (:func:`~fewshot_utils.viz.style.method_colour`). Lines are the mean
    over episodes, bands its 95% interval. ``reference``: the prototype
    classifier's accuracy (%), shown dashed on the accuracy panel: one number (the
    histories share their episodes: one grey line) or ``{name: number}`` (each history's
    own episodes: one line per name, in its colour). ``panels``:
    some of ``"support_loss"``, ``"query_accuracy"``, ``"query_entropy"``
    (default: all that have data); ``log_loss``: the loss on a log scale, where a
    loss falling towards 0 stays visible; ``zoom``: the accuracy axis starts a little
    below the lowest reference and the lowest accuracy after the first fifth of the
    steps (see :func:`accuracy_zoom`), where the curves and the reference differ by a
    point or two (a random start's first steps, near chance, fall below it).
    """
    histories = _as_histories(histories)
    for panel in panels or ():
        if panel not in CURVE_PANELS:
            raise ValueError(f"unknown panel {panel!r}: choose from {', '.join(CURVE_PANELS)}")
    has_accuracy = all(h.query_accuracy is not None for h in histories.values())
    chosen = [p for p in (panels or CURVE_PANELS) if p != "query_accuracy" or has_accuracy]
    if not chosen:
        raise ValueError("no panel to draw: the histories have no query accuracy")
    shared = reference is not None and not isinstance(reference, Mapping)

    fig = new_figure(figsize=(4.2 * len(chosen), 3.3), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for ax, panel in zip(axes, chosen, strict=True):
        for i, (name, history) in enumerate(histories.items()):
            colour = method_colour(name, i)
            values = getattr(history, panel)
            mean, ci = curve_mean_and_ci(values)
            steps = np.arange(len(mean))
            episodes = values.shape[1] if values.dim() > 1 else 1
            label = f"{name} ({episodes} episodes)" if name else f"{episodes} episodes"
            ax.plot(steps, mean, color=colour, label=label)
            ax.fill_between(steps, mean - ci, mean + ci, color=colour, alpha=0.2, linewidth=0)
            if panel == "query_accuracy" and not shared and name in (reference or {}):
                ax.axhline(
                    reference[name],
                    color=colour,
                    linestyle="--",
                    linewidth=1.2,
                    label=f"prototype classifier{f' ({name})' if name else ''}",
                )
        if panel == "query_accuracy" and shared:
            ax.axhline(
                float(reference),
                color=PROTOTYPE_COLOUR,
                linestyle="--",
                linewidth=1.2,
                label="prototype classifier",
            )
        if panel == "query_accuracy" and zoom:
            curves = [curve_mean_and_ci(h.query_accuracy)[0] for h in histories.values()]
            levels = [float(reference)] if shared else list((reference or {}).values())
            ax.set_ylim(*accuracy_zoom(curves, levels))
        if panel == "support_loss" and log_loss:
            ax.set_yscale("log")
        ax.set_xlabel("Adam steps on the support set")
        ax.set_title(CURVE_PANELS[panel], fontsize=10)
        ax.grid(alpha=0.3)
        if panel == "query_accuracy":
            ax.legend(fontsize=7, loc="lower right")
    if "query_accuracy" not in chosen:
        axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _truth_line(ax, ways: int) -> None:
    """The dashed line of the truth: ``100/N`` % of an episode's queries in every class."""
    ax.axhline(
        100.0 / ways,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"truth: {100 / ways:.0f}% per class",
    )


def predicted_class_histogram(
    predictions: torch.Tensor | Mapping[str, torch.Tensor],
    ways: int,
    title: str | None = None,
) -> Figure:
    """Bars of :func:`predicted_class_shares` for one or several classifiers, side by side.

    ``predictions``: ``[E, Q]`` predicted classes, or ``{name: [E, Q]}``; a method's
    name gets its colour, and a variant of it (``"W = M + entropy (λ = 1)"``) the same
    colour, hatched (:func:`~fewshot_utils.viz.style.method_style`). The dashed line is
    the truth, ``100/N`` % of the queries in every class; the legend gives each
    classifier's share for its most-predicted class.
    """
    if not isinstance(predictions, Mapping):
        predictions = {"": predictions}
    if not predictions:
        raise ValueError("predicted_class_histogram needs at least one set of predictions")
    shares = {name: predicted_class_shares(p, ways) for name, p in predictions.items()}
    fig = new_figure(figsize=(min(9.5, max(4.5, 0.3 * ways * len(shares) + 1.5)), 3.2))
    ax = fig.subplots()
    width = 0.8 / len(shares)
    ranks = np.arange(1, ways + 1)
    for i, (name, share) in enumerate(shares.items()):
        offset = (i - (len(shares) - 1) / 2) * width
        label = f"{name}: top class {share[0]:.0f}%" if name else f"top class {share[0]:.0f}%"
        colour, variant = method_style(name, i)
        ax.bar(
            ranks + offset,
            share.cpu().numpy(),
            width * 0.95,
            color=colour,
            hatch=VARIANT_HATCH if variant else None,
            edgecolor="white" if variant else None,
            label=label,
        )
    _truth_line(ax, ways)
    ax.set_xticks(ranks if ways <= 20 else ranks[::5])
    ax.set_xlabel("classes of the episode, from the most-predicted down")
    ax.set_ylabel("% of the episode's queries")
    ax.set_title(title or "where the predictions go (mean over episodes)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _mean_ci(result) -> tuple[float, float]:
    if hasattr(result, "accuracy"):
        return float(result.accuracy), float(result.ci95)
    mean, ci = result
    return float(mean), float(ci)


def sweep_figure(
    values: Sequence,
    results: Sequence | Mapping[str, Sequence],
    xlabel: str,
    reference=None,
    title: str | None = None,
    ylabel: str = "accuracy (%)",
) -> Figure:
    """Accuracy against a parameter, with 95% confidence intervals as error bars.

    ``values``: the parameter's values (drawn evenly spaced and labelled, so 0 and
    log-spaced values both read well); ``results``: one
    :class:`~fewshot_utils.fewshot.evaluation.EvaluationResult` or ``(mean, ci95)`` per
    value, or ``{series name: [...]}`` for several series over the same values.
    ``reference``: the prototype classifier (an ``EvaluationResult``, a
    ``(mean, ci95)`` or a number), drawn as a grey band.
    """
    if not isinstance(results, Mapping):
        results = {"": results}
    for name, series in results.items():
        if len(series) != len(values):
            raise ValueError(
                f"series {name!r} has {len(series)} results for {len(values)} values: "
                "give one result per value"
            )
    fig = new_figure(figsize=(max(4.5, 0.75 * len(values) + 2.0), 3.4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(values))
    if reference is not None:
        mean, ci = (
            (float(reference), 0.0) if isinstance(reference, int | float) else _mean_ci(reference)
        )
        ax.axhspan(mean - ci, mean + ci, color=PROTOTYPE_COLOUR, alpha=0.2, linewidth=0)
        ax.axhline(
            mean,
            color=PROTOTYPE_COLOUR,
            linestyle="--",
            linewidth=1.2,
            label="prototype classifier",
        )
    shift = 0.06 * (len(results) > 1)
    for i, (name, series) in enumerate(results.items()):
        points = np.array([_mean_ci(r) for r in series])
        ax.errorbar(
            x + (i - (len(results) - 1) / 2) * shift,
            points[:, 0],
            yerr=points[:, 1],
            fmt="o-",
            capsize=3,
            color=method_colour(name, i),
            label=name or None,
        )
    ax.set_xticks(x, [f"{v:g}" if isinstance(v, int | float) else str(v) for v in values])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def fine_tuning_figure(state: dict) -> Figure:
    """Left: query accuracy per step vs the prototype classifier; right: where predictions go.

    ``state``: from :func:`fewshot_utils.widgets.fine_tuning.fine_tuning_state`. The
    fine-tuned classifier is drawn in its method's colour when it is one of the course's
    methods (brown for any other setting)."""
    name, _ = resolve_method(state["config"])
    tuned_colour = METHOD_COLOURS.get(name, "tab:brown")
    fig = new_figure(figsize=(10.5, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
    steps = np.arange(len(state["accuracy_per_step"]))
    mean, ci = state["accuracy_per_step"], state["accuracy_per_step_ci"]
    proto_mean, proto_ci = state["prototype"]
    tuned_mean, tuned_ci = state["fine_tuned"]
    left.axhspan(proto_mean - proto_ci, proto_mean + proto_ci, color=PROTOTYPE_COLOUR, alpha=0.2)
    left.axhline(
        proto_mean,
        color=PROTOTYPE_COLOUR,
        linestyle="--",
        linewidth=1.2,
        label=f"prototype classifier {proto_mean:.1f} ± {proto_ci:.1f}%",
    )
    left.plot(
        steps,
        mean,
        "o-" if len(steps) == 1 else "-",
        color=tuned_colour,
        label=f"fine-tuned {tuned_mean:.1f} ± {tuned_ci:.1f}%",
    )
    left.fill_between(steps, mean - ci, mean + ci, color=tuned_colour, alpha=0.2, linewidth=0)
    left.set_ylim(*accuracy_zoom([mean - ci], [proto_mean - proto_ci, proto_mean + proto_ci]))
    left.set_xlabel("Adam steps on the support set")
    left.set_ylabel("query accuracy (%)")
    difference, difference_ci = state["difference"]
    left.set_title(
        f"{state['ways']}-way {state['shots']}-shot, {state['episodes']} episodes: "
        f"paired difference {difference:+.2f} ± {difference_ci:.2f} points",
        fontsize=9,
    )
    left.legend(fontsize=8, loc="lower right")
    left.grid(alpha=0.3)

    ways = state["ways"]
    ranks = np.arange(1, ways + 1)
    right.bar(
        ranks - 0.2,
        state["prototype_shares"].cpu().numpy(),
        0.4,
        color=PROTOTYPE_COLOUR,
        label="prototype classifier",
    )
    right.bar(
        ranks + 0.2,
        state["shares"].cpu().numpy(),
        0.4,
        color=tuned_colour,
        label=f"fine-tuned: top class {state['top_share']:.0f}%",
    )
    _truth_line(right, ways)
    right.set_xticks(ranks if ways <= 10 else ranks[::2] if ways <= 20 else ranks[::5])
    right.set_xlabel("classes of the episode, from the most-predicted down")
    right.set_ylabel("% of the episode's queries")
    right.set_title("where the predictions go", fontsize=9)
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    fig.suptitle(state["config"].describe(), fontsize=10)
    return fig
