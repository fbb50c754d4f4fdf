"""Looking inside fine-tuning: curves per step, where the predictions go, calibration, sweeps.

Notebooks 05-07 ask of each trick *does it help, when, and why*. The functions
here compute the numbers (plain functions, tested) and draw them (one function
per figure, each returning a matplotlib ``Figure``):

* **per-step curves** of a :class:`~fewshot_utils.fine_tuning.FineTuningHistory`:
  :func:`record_fine_tuning` fine-tunes episodes with ``record=True``;
  :func:`curve_mean_and_ci` averages a ``[steps + 1, E]`` history over episodes;
  :func:`fine_tuning_curves` draws support loss, query accuracy and query entropy
  per step, with the prototype classifier as a horizontal line;
* **where the predictions go**: :func:`predicted_class_shares` (the share of an
  episode's queries given to its most-predicted class, its second, ...) and
  :func:`predicted_class_histogram`; a collapsed classifier sends most queries
  to one class, while the truth is ``1/N`` for every class;
* **calibration**: :func:`reliability` bins queries by their confidence
  ``max_n p_n`` and compares each bin's mean confidence with its accuracy; the
  expected calibration error is ``ECE = Σ_b (n_b / n) |acc_b - conf_b|``
  (Guo et al. 2017); :func:`reliability_diagram` draws it;
* **sweeps and comparisons**: :func:`sweep` evaluates one
  :class:`~fewshot_utils.fine_tuning.FineTuningConfig` field at several values on
  the same episodes, :func:`sweep_figure` plots accuracy against it with 95%
  confidence intervals; :func:`evaluate_methods` and :func:`comparison_table`
  compare methods on the same episodes with paired differences.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from fewshot_utils.episodes import Episodes, sample_episodes
from fewshot_utils.evaluation import (
    EvaluationResult,
    default_chunk_size,
    episode_features,
    evaluate,
    paired_difference,
    resolve_method,
)
from fewshot_utils.fine_tuning import FineTuningConfig, FineTuningHistory, fine_tune
from fewshot_utils.prototypes import prototype_probabilities, prototypes

#: Memory for one chunk of episodes here: a quarter of the evaluation module's budget.
#: Fine-tuning with the entropy term keeps several ``[E, N, Q]`` tensors per step for
#: backward, about 5x the evaluation module's estimate; smaller chunks were as fast.
CHUNK_BUDGET_BYTES = 8 * 2**20

#: Colours of the figures: the prototype classifier is always grey.
PROTOTYPE_COLOUR = "0.35"
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def new_figure(**kwargs) -> Figure:
    """An empty figure made through pyplot, so that Jupyter's inline backend shows it.

    It is closed in pyplot at once: it is shown once, as the value a figure function
    returns, and many figures do not pile up in pyplot's memory.
    """
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


# ----------------------------------------------------------------------------
# Per-step curves
# ----------------------------------------------------------------------------


def chunk_size_for(episodes: Episodes, dim: int) -> int:
    """Episodes per chunk for :data:`CHUNK_BUDGET_BYTES` (see ``default_chunk_size``)."""
    return default_chunk_size(
        episodes.ways, episodes.shots, episodes.queries, dim, CHUNK_BUDGET_BYTES
    )


def episode_chunks(features: torch.Tensor, episodes: Episodes, chunk_size: int | None = None):
    """Consecutive chunks of episodes with their features, for bounded memory.

    Yields ``(episode_index int64 [C], support [C, N, K, d], query [C, N·Q, d],
    labels [C, N·Q])`` for chunks of ``chunk_size`` episodes (default
    :func:`chunk_size_for`; pass ``episode_index`` to ``fine_tune`` for the same
    random starts as :func:`~fewshot_utils.evaluation.evaluate`, whatever the chunks).
    """
    features = features.detach().float()
    if chunk_size is None:
        chunk_size = chunk_size_for(episodes, features.shape[-1])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for start in range(0, episodes.num_episodes, chunk_size):
        stop = min(start + chunk_size, episodes.num_episodes)
        yield (torch.arange(start, stop), *episode_features(features, episodes[start:stop]))


def record_fine_tuning(
    features: torch.Tensor,
    episodes: Episodes,
    config: FineTuningConfig,
    seed: int = 0,
    chunk_size: int | None = None,
) -> FineTuningHistory:
    """Fine-tune ``episodes`` with ``config`` and return what happened at every step.

    ``features [I, d]``: the split's cached features. The history's fields are
    ``[steps + 1, E]`` (row 0: the initial classifier), with query accuracy in %.
    Episodes are fine-tuned a chunk at a time (:func:`episode_chunks`) with the same
    random starts as :func:`~fewshot_utils.evaluation.evaluate`.
    """
    parts = []
    for index, support, query, labels in episode_chunks(features, episodes, chunk_size):
        classifier = fine_tune(
            support,
            query,
            config,
            seed=seed,
            episode_index=index,
            query_labels=labels,
            record=True,
        )
        parts.append(classifier.history)
    return FineTuningHistory(
        support_loss=torch.cat([h.support_loss for h in parts], dim=1),
        query_entropy=torch.cat([h.query_entropy for h in parts], dim=1),
        query_accuracy=torch.cat([h.query_accuracy for h in parts], dim=1),
    )


def curve_mean_and_ci(values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean over episodes and its 95% interval, per step: ``[T, E] -> ([T], [T])``.

    ``ci = 1.96 · std / √E`` (sample std); zero when there is a single episode.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() == 1:
        values = values.unsqueeze(1)
    mean = values.mean(dim=1)
    if values.shape[1] < 2:
        return mean.numpy(), np.zeros(len(mean))
    ci = 1.96 * values.std(dim=1) / math.sqrt(values.shape[1])
    return mean.numpy(), ci.numpy()


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
    ``[steps + 1, E]`` from ``fine_tune(..., record=True)``. Lines are the mean
    over episodes, bands its 95% interval. ``reference``: the prototype
    classifier's accuracy (%), one number or ``{name: number}`` (the same names,
    drawn in the same colours), shown dashed on the accuracy panel. ``panels``:
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
    if reference is not None and not isinstance(reference, Mapping):
        reference = {name: float(reference) for name in histories}

    fig = new_figure(figsize=(4.2 * len(chosen), 3.3), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for ax, panel in zip(axes, chosen, strict=True):
        for i, (name, history) in enumerate(histories.items()):
            colour = COLOURS[i % len(COLOURS)]
            values = getattr(history, panel)
            mean, ci = curve_mean_and_ci(values)
            steps = np.arange(len(mean))
            episodes = values.shape[1] if values.dim() > 1 else 1
            label = f"{name} ({episodes} episodes)" if name else f"{episodes} episodes"
            ax.plot(steps, mean, color=colour, label=label)
            ax.fill_between(steps, mean - ci, mean + ci, color=colour, alpha=0.2, linewidth=0)
            if panel == "query_accuracy" and reference is not None and name in reference:
                ax.axhline(
                    reference[name],
                    color=colour,
                    linestyle="--",
                    linewidth=1.2,
                    label=f"prototype classifier{f' ({name})' if name else ''}",
                )
        if panel == "query_accuracy" and zoom:
            curves = [curve_mean_and_ci(h.query_accuracy)[0] for h in histories.values()]
            ax.set_ylim(*accuracy_zoom(curves, list((reference or {}).values())))
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


# ----------------------------------------------------------------------------
# Where the predictions go
# ----------------------------------------------------------------------------


def predicted_class_shares(predictions: torch.Tensor, ways: int) -> torch.Tensor:
    """% of an episode's queries given to its most-predicted class, 2nd, ...; mean over episodes.

    ``predictions int64 [E, Q]`` (or one episode ``[Q]``) with classes ``0 .. ways-1``
    ``-> float [ways]`` in %, sorted from the most-predicted class down; it sums to
    100. The episodes have the same number of queries in every class, so a perfect
    classifier gives ``100/N`` for every rank; a collapse puts most of the 100 in
    the first bar.
    """
    predictions = torch.as_tensor(predictions)
    if predictions.dim() == 1:
        predictions = predictions.unsqueeze(0)
    if predictions.dim() != 2:
        raise ValueError(f"predictions must be [E, Q] (or [Q]), got {tuple(predictions.shape)}")
    if predictions.numel() and (predictions.min() < 0 or predictions.max() >= ways):
        raise ValueError(f"predictions must be classes 0 .. {ways - 1}")
    counts = torch.zeros(predictions.shape[0], ways, dtype=torch.float64)
    counts.scatter_add_(1, predictions.long(), torch.ones_like(predictions, dtype=torch.float64))
    ranked = counts.sort(dim=1, descending=True).values
    return 100.0 * (ranked / predictions.shape[1]).mean(dim=0)


def predicted_class_histogram(
    predictions: torch.Tensor | Mapping[str, torch.Tensor],
    ways: int,
    title: str | None = None,
) -> Figure:
    """Bars of :func:`predicted_class_shares` for one or several classifiers, side by side.

    ``predictions``: ``[E, Q]`` predicted classes, or ``{name: [E, Q]}``. The
    dashed line is the truth, ``100/N`` % of the queries in every class; the
    legend gives each classifier's share for its most-predicted class.
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
        ax.bar(
            ranks + offset,
            share.numpy(),
            width * 0.95,
            color=COLOURS[i % len(COLOURS)],
            label=label,
        )
    ax.axhline(
        100.0 / ways,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"truth: {100 / ways:.0f}% per class",
    )
    ax.set_xticks(ranks if ways <= 20 else ranks[::5])
    ax.set_xlabel("classes of the episode, from the most-predicted down")
    ax.set_ylabel("% of the episode's queries")
    ax.set_title(title or "where the predictions go (mean over episodes)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Calibration
# ----------------------------------------------------------------------------


@dataclass
class Reliability:
    """Confidence against accuracy in ``B`` equal bins of ``[0, 1]``.

    ``lower``, ``upper``: the bins' edges ``[B]``; ``count``: queries per bin;
    ``confidence``: the bin's mean confidence ``max_n p_n``; ``accuracy``: the
    fraction of the bin's queries whose ``argmax`` is right (both ``nan`` for an
    empty bin); ``ece``: the expected calibration error ``Σ_b (n_b/n) |acc_b -
    conf_b|`` as a fraction (×100 for points); ``mean_confidence``,
    ``mean_accuracy``: over all queries.
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    mean_confidence: float
    mean_accuracy: float


def reliability(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> Reliability:
    """Bin queries by confidence and compare with accuracy (a reliability diagram's numbers).

    ``probabilities [..., N]`` (rows sum to 1) and ``labels int64 [...]``, e.g.
    ``[E, Q, N]`` and ``[E, Q]`` for all queries of ``E`` episodes. Confidence is
    ``max_n p_n``; bin ``b`` holds ``b/B <= confidence < (b+1)/B`` (the last bin
    includes 1). A calibrated classifier has ``accuracy ≈ confidence`` in every
    bin, and ``ECE = 0``.
    """
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a whole number >= 1, got {bins}")
    probabilities = torch.as_tensor(probabilities, dtype=torch.float64)
    labels = torch.as_tensor(labels)
    if probabilities.shape[:-1] != labels.shape:
        raise ValueError(
            f"probabilities {tuple(probabilities.shape)} must be labels {tuple(labels.shape)} "
            "plus a last dimension of classes"
        )
    probabilities = probabilities.reshape(-1, probabilities.shape[-1])
    labels = labels.reshape(-1)
    if len(labels) == 0:
        raise ValueError("reliability needs at least one query")
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    index = (confidence * bins).long().clamp(0, bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    summed_confidence = torch.bincount(index, weights=confidence, minlength=bins)
    summed_correct = torch.bincount(index, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_confidence = (summed_confidence / count).numpy()
        bin_accuracy = (summed_correct / count).numpy()
    ece = float((summed_correct - summed_confidence).abs().sum() / len(labels))
    edges = np.linspace(0.0, 1.0, bins + 1)
    return Reliability(
        lower=edges[:-1],
        upper=edges[1:],
        count=count.numpy().astype(np.int64),
        confidence=bin_confidence,
        accuracy=bin_accuracy,
        ece=ece,
        mean_confidence=float(confidence.mean()),
        mean_accuracy=float(correct.mean()),
    )


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10
) -> float:
    """``ECE = Σ_b (n_b / n) |acc_b - conf_b|`` as a fraction (see :func:`reliability`)."""
    return reliability(probabilities, labels, bins).ece


def reliability_diagram(
    reliabilities: Reliability | Mapping[str, Reliability], title: str | None = None
) -> Figure:
    """One column per classifier: accuracy per confidence bin (top) and queries per bin (bottom).

    Top: bars of each bin's accuracy, a black tick at the bin's mean confidence, the
    hatched gap between the two, and the diagonal ``accuracy = confidence`` of a
    calibrated classifier. Bars above the diagonal: under-confident; below:
    over-confident. Each column's title gives the ECE and the mean confidence
    against the accuracy over all queries.
    """
    if isinstance(reliabilities, Reliability):
        reliabilities = {"": reliabilities}
    if not reliabilities:
        raise ValueError("reliability_diagram needs at least one Reliability")
    columns = len(reliabilities)
    fig = new_figure(figsize=(3.3 * columns + 0.3, 5.0), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False, height_ratios=[2.3, 1], sharex=True)
    for j, (name, rel) in enumerate(reliabilities.items()):
        top, bottom = axes[0, j], axes[1, j]
        width = (rel.upper - rel.lower) * 0.92
        centres = (rel.lower + rel.upper) / 2
        filled = rel.count > 0
        top.bar(
            centres[filled],
            rel.accuracy[filled],
            width[filled],
            color=COLOURS[0],
            alpha=0.85,
            label="accuracy in the bin",
        )
        top.bar(
            centres[filled],
            np.abs(rel.accuracy - rel.confidence)[filled],
            width[filled],
            bottom=np.minimum(rel.accuracy, rel.confidence)[filled],
            fill=False,
            hatch="///",
            edgecolor="tab:red",
            linewidth=0,
            label="gap to the confidence",
        )
        top.hlines(
            rel.confidence[filled],
            (centres - width / 2)[filled],
            (centres + width / 2)[filled],
            color="black",
            linewidth=1.5,
            label="mean confidence in the bin",
        )
        top.plot([0, 1], [0, 1], ":", color="0.4", linewidth=1, label="calibrated")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1.02)
        lines = [name] if name else []
        lines += [
            f"ECE {100 * rel.ece:.1f} points",
            f"confidence {100 * rel.mean_confidence:.1f}% vs accuracy "
            f"{100 * rel.mean_accuracy:.1f}%",
        ]
        top.set_title("\n".join(lines), fontsize=9)
        share = 100 * rel.count / max(1, rel.count.sum())
        bottom.bar(centres, share, width, color="0.6")
        bottom.set_xlabel("confidence max$_n$ $p_n$")
        if j == 0:
            top.set_ylabel("accuracy")
            bottom.set_ylabel("% of queries")
            handles, labels = top.get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# ----------------------------------------------------------------------------
# Probabilities and predictions of a method on many episodes
# ----------------------------------------------------------------------------


def episode_probabilities(
    features: torch.Tensor,
    episodes: Episodes,
    method="prototype",
    scale: float = 1.0,
    seed: int = 0,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query's class probabilities under a method: ``(p [E, Q, N], labels int64 [E, Q])``.

    ``method`` as in :func:`fewshot_utils.evaluation.evaluate`. For the prototype
    classifier ``p = softmax(s · M q̂)`` with ``scale`` ``s``; a fine-tuned
    classifier uses its own logits (``scale`` is ignored: a cosine head has its
    config's ``s``). Episodes are processed in chunks like :func:`evaluate`, with
    the same random starts, so ``p.argmax(-1)`` gives exactly its predictions.
    """
    _, config = resolve_method(method)
    probabilities, all_labels = [], []
    for index, support, query, labels in episode_chunks(features, episodes, chunk_size):
        if config is None:
            p = prototype_probabilities(prototypes(support), query, scale)
        else:
            classifier = fine_tune(support, query, config, seed=seed, episode_index=index)
            p = classifier.probabilities(query)
        probabilities.append(p)
        all_labels.append(labels)
    return torch.cat(probabilities), torch.cat(all_labels)


# ----------------------------------------------------------------------------
# Sweeps and comparisons on the same episodes
# ----------------------------------------------------------------------------


def sweep(
    features: torch.Tensor,
    episodes: Episodes,
    config: FineTuningConfig,
    parameter: str,
    values: Sequence,
    seed: int = 0,
) -> list[EvaluationResult]:
    """Evaluate ``config`` with ``parameter`` set to each of ``values``, on the same episodes.

    ``parameter``: a field of :class:`FineTuningConfig` (``"entropy_weight"``,
    ``"lr"``, ``"steps"``, ``"scale"``, ...). Returns one
    :class:`~fewshot_utils.evaluation.EvaluationResult` per value, in order.
    """
    fields = [f.name for f in dataclasses.fields(FineTuningConfig)]
    if parameter not in fields:
        raise ValueError(f"unknown parameter {parameter!r}: choose one of {', '.join(fields)}")
    chunk_size = chunk_size_for(episodes, features.shape[-1])
    return [
        evaluate(
            features,
            episodes,
            dataclasses.replace(config, **{parameter: value}),
            chunk_size=chunk_size,
            seed=seed,
        )
        for value in values
    ]


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
    :class:`~fewshot_utils.evaluation.EvaluationResult` or ``(mean, ci95)`` per
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
            color=COLOURS[i % len(COLOURS)],
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


def setting_name(ways: int, shots: int) -> str:
    """``5, 1 -> "5-way 1-shot"``."""
    return f"{ways}-way {shots}-shot"


def evaluate_methods(
    features: torch.Tensor,
    labels: torch.Tensor,
    methods: Sequence,
    settings: Sequence[tuple[int, int]] = ((5, 1), (5, 5)),
    episodes: int = 1000,
    queries: int = 15,
    seed: int = 0,
) -> dict[str, dict[str, EvaluationResult]]:
    """Evaluate ``methods`` on the same seeded episodes of each ``(ways, shots)`` setting.

    ``methods``: names of :data:`~fewshot_utils.evaluation.METHODS`, CLI keys or
    ``FineTuningConfig`` s (or ``{name: method}`` to name them yourself). Returns
    ``{setting name: {method name: EvaluationResult}}``, ready for
    :func:`comparison_table` and :func:`fewshot_utils.plots.accuracy_bars`.
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
            chunk_size = chunk_size_for(sampled, features.shape[-1])
            result = evaluate(features, sampled, method, chunk_size=chunk_size, seed=seed)
            result.method = name
            row[name] = result
        results[setting_name(ways, shots)] = row
    return results


def by_method(
    results: Mapping[str, Mapping[str, EvaluationResult]],
) -> dict[str, list[EvaluationResult]]:
    """``{setting: {method: result}}`` -> ``{method: [its result in each setting]}``.

    The form :func:`fewshot_utils.plots.accuracy_bars` draws as bars grouped by setting.
    """
    methods: dict[str, list[EvaluationResult]] = {}
    for row in results.values():
        for name, result in row.items():
            methods.setdefault(name, []).append(result)
    return methods


def comparison_table(
    results: Mapping[str, Mapping[str, EvaluationResult]],
    against: Sequence[str] = ("prototype",),
    digits: int = 2,
) -> str:
    """A Markdown table: accuracy ± 95% CI and paired differences, one row per setting and method.

    ``results``: from :func:`evaluate_methods`. For each name in ``against`` a
    column gives ``method - that method`` on the same episodes, in points, with
    the 95% interval of the paired difference (``—`` for itself or when it is
    missing). A difference whose interval excludes 0 is shown in **bold**.
    """
    header = ["setting", "method", "accuracy (%)"] + [f"Δ vs {name} (points)" for name in against]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|",
    ]
    for setting, row in results.items():
        for name, result in row.items():
            cells = [setting, name, f"{result.accuracy:.{digits}f} ± {result.ci95:.{digits}f}"]
            for reference in against:
                if reference == name or reference not in row:
                    cells.append("—")
                    continue
                difference = paired_difference(result, row[reference])
                text = f"{difference.mean:+.{digits}f} ± {difference.ci95:.{digits}f}"
                significant = abs(difference.mean) > difference.ci95
                cells.append(f"**{text}**" if significant else text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
