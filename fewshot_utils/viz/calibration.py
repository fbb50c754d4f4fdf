"""The reliability diagram: confidence against accuracy.

Its numbers come from :func:`fewshot_utils.fewshot.calibration.reliability`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from fewshot_utils.fewshot.calibration import Reliability
from fewshot_utils.viz.style import method_colour, new_figure


def reliability_diagram(
    reliabilities: Reliability | Mapping[str, Reliability], title: str | None = None
) -> Figure:
    """One column per classifier: accuracy per confidence bin (top) and queries per bin (bottom).

    Top: bars of each bin's accuracy, a black tick at the bin's mean confidence, the
    hatched gap between the two, and the diagonal ``accuracy = confidence`` of a
    calibrated classifier. Bars above the diagonal: under-confident; below:
    over-confident. Each column's title gives the ECE and the mean confidence
    against the accuracy over all queries. A column named after a method has its colour
    (:func:`~fewshot_utils.viz.style.method_colour`).
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
            color=method_colour(name, j),
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
