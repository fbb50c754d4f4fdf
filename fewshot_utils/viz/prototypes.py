"""Figures of the prototype classifier: one episode up close, its mistakes, ways and shots.

* :func:`episode_explorer_figure`: a query, the support set, and the query's probability
  for each class (the state of :func:`fewshot_utils.widgets.episodes.explore_episode`);
* :func:`wrong_queries_figure`: queries the prototype classifier got wrong, beside both
  classes' support images (:func:`fewshot_utils.fewshot.inspection.wrong_queries`);
* :func:`accuracy_sweep_figure`: accuracy against ways, one line per number of shots.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.inspection import AccuracySweep, WrongQuery
from fewshot_utils.viz.style import (
    RIGHT,
    WRONG,
    frame_axis,
    frame_tile,
    mosaic,
    new_figure,
    show_image,
)


def episode_explorer_figure(state: dict, images: torch.Tensor) -> Figure:
    """The query, the support set (one class a row) and the query's probability for each class.

    ``state`` from :func:`explore_episode`; ``images uint8 [I, H, W]`` of the same
    split. The true class's row is framed green; the predicted class's red when wrong.
    """
    ways, shots = state["ways"], state["shots"]
    size, pad = images.shape[-1], 2
    row_inches = 0.42
    support_inches = max(1.7, row_inches * shots + 0.5)  # room for its title at 1 shot
    fig = new_figure(
        figsize=(1.9 + support_inches + 3.4, max(2.6, row_inches * ways + 1.0)),
        layout="constrained",
    )
    grid = fig.add_gridspec(1, 3, width_ratios=[1.9, support_inches, 3.4])

    ax = fig.add_subplot(grid[0])
    color = RIGHT if state["correct"] else WRONG
    verdict = "right" if state["correct"] else "wrong"
    show_image(ax, images[state["query_image"]])
    ax.set_title(
        f"query (class {state['true']})\npredicted class {state['predicted']}: {verdict}",
        color=color,
        fontsize=9,
    )
    frame_axis(ax, color)

    ax = fig.add_subplot(grid[1])
    ax.imshow(
        mosaic(images[state["support"]], pad),
        cmap="gray",
        vmin=0,
        vmax=255,
        aspect="auto",
        interpolation="nearest",
    )
    centres = [pad + n * (size + pad) + size / 2 for n in range(ways)]
    ax.set_xticks([])
    ax.set_yticks(centres, [f"class {n}" for n in range(ways)], fontsize=8)
    frame_tile(ax, state["true"], 0, size, RIGHT, pad, cols=shots)
    if not state["correct"]:
        frame_tile(ax, state["predicted"], 0, size, WRONG, pad, cols=shots)
    ax.set_title(f"support set\n{ways}-way {shots}-shot, seed {state['seed']}", fontsize=9)
    bottom, top = ax.get_ylim()

    ax = fig.add_subplot(grid[2])
    colours = ["lightgrey"] * ways
    colours[state["true"]] = RIGHT
    if not state["correct"]:
        colours[state["predicted"]] = WRONG
    probabilities = state["probabilities"].cpu().numpy()
    bars = ax.barh(centres, probabilities, height=0.7 * size, color=colours)
    labels = [
        f"{p:.2f} (cos {c:.2f})"
        for p, c in zip(probabilities, state["cosines"].tolist(), strict=True)
    ]
    ax.bar_label(bars, labels, fontsize=7, padding=2)
    ax.set_ylim(bottom, top)
    ax.set_yticks([])
    ax.set_xlim(0, min(1.0, 1.6 * float(probabilities.max()) + 0.05))
    ax.set_xlabel(f"p = softmax({state['scale']:g} · M q̂)", fontsize=9)
    ax.set_title(
        f"the query's probabilities\n{state['episode_correct']}/{ways} of this episode's "
        "queries right",
        fontsize=9,
    )
    return fig


def wrong_queries_figure(images: torch.Tensor, wrong: list[WrongQuery]) -> Figure:
    """One row per wrong query: the query, its true class's support, the predicted class's.

    The true class's support images are framed green, the predicted (wrong) class's
    red; the titles give the cosine similarity of the query to both prototypes.
    """
    if not wrong:
        raise ValueError("no wrong queries to show")
    shots = len(wrong[0].true_support)
    size = images.shape[-1]
    fig = new_figure(
        figsize=(1.1 * (2 * max(shots, 2) + 1) + 1.0, 1.7 * len(wrong)), layout="constrained"
    )
    grid = fig.add_gridspec(len(wrong), 3, width_ratios=[1, shots, shots])
    for row, item in enumerate(wrong):
        ax = fig.add_subplot(grid[row, 0])
        show_image(ax, images[item.image], f"query\n(episode {item.episode})", fontsize=8)
        frame_axis(ax, "black")
        for column, (support, color, words, cos) in enumerate(
            [
                (item.true_support, RIGHT, "its true class", item.true_similarity),
                (item.predicted_support, WRONG, "predicted class", item.predicted_similarity),
            ],
            start=1,
        ):
            ax = fig.add_subplot(grid[row, column])
            show_image(ax, mosaic(images[support].unsqueeze(0)))
            ax.set_title(f"{words}\ncos(prototype, query) = {cos:.2f}", fontsize=8)
            frame_tile(ax, 0, 0, size, color, cols=shots)
    return fig


def accuracy_sweep_figure(sweep: AccuracySweep) -> Figure:
    """Accuracy against ways (log scale), one line per number of shots, with 95% CI bars."""
    fig = new_figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for s, shots in enumerate(sweep.shots):
        ax.errorbar(
            sweep.ways,
            sweep.accuracy[s].cpu().numpy(),
            yerr=sweep.ci95[s].cpu().numpy(),
            marker="o",
            capsize=4,
            label=f"{shots}-shot",
        )
    ax.set_xscale("log")
    ax.set_xticks(sweep.ways, [str(w) for w in sweep.ways])
    ax.minorticks_off()
    ax.set_xlabel("ways N (classes per episode)")
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.set_title(f"prototype classifier, {sweep.episodes} episodes per point", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig
