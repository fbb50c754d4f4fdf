"""Notebook 08: does a trick help? Read a paired difference and its confidence interval.

A trick is compared with the prototype classifier on the *same* episodes: the
paired difference ``d = mean_e (a_e - b_e)`` in points, with its 95% interval
``d ± ci95``. The verdict:

* ``"helps"`` when the whole interval is above 0 (``d - ci95 > 0``);
* ``"hurts"`` when the whole interval is below 0 (``d + ci95 < 0``);
* ``"unclear"`` when the interval contains 0: with these many episodes the
  data cannot tell the two methods apart (which is not the same as "equal").

* :func:`check_verdict`: the learner's ``verdict(mean, ci95)``, on hand-made
  differences that catch the usual slips (judging by the mean alone, forgetting
  that a trick can hurt);
* :func:`verdict_table`: the verdicts of every method and setting of a
  :func:`fewshot_utils.benchmark.run_benchmark` table, as Markdown;
* :func:`paired_differences_figure`: the paired differences as intervals around 0;
* :data:`PUBLISHED` and :func:`published_table`: the published numbers the course
  compares with, beside ours.

Like every checker of the course, :func:`check_verdict` prints and returns
``True``/``False`` and never raises on a wrong answer.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from fewshot_utils.exercises.checking import failed, name_of, not_answered, passed
from fewshot_utils.inspection import RIGHT, WRONG

VERDICTS = ("helps", "hurts", "unclear")

#: Hand-made paired differences ``(mean, ci95)`` in points and their verdicts.
HAND_MADE = (
    (0.56, 0.21, "helps"),  # the interval [0.35, 0.77] is above 0
    (-1.90, 0.40, "hurts"),  # [-2.30, -1.50] is below 0
    (0.13, 0.20, "unclear"),  # [-0.07, 0.33] contains 0
    (-0.05, 0.30, "unclear"),  # [-0.35, 0.25] contains 0
    (2.00, 3.00, "unclear"),  # a big mean, but an even bigger interval
    (-0.30, 0.10, "hurts"),  # a small loss, but a sure one
    (0.04, 0.03, "helps"),  # a tiny gain, but a sure one
)


def trick_verdict(mean: float, ci95: float) -> str:
    """``"helps"``, ``"hurts"`` or ``"unclear"`` for a paired difference ``mean ± ci95``."""
    if mean - ci95 > 0:
        return "helps"
    if mean + ci95 < 0:
        return "hurts"
    return "unclear"


def _slip(answers: dict[tuple[float, float], object]) -> str:
    """A hint for the most likely slip behind wrong answers on :data:`HAND_MADE`."""
    by_sign = all(
        answers[(mean, ci)] == ("helps" if mean > 0 else "hurts") for mean, ci, _ in HAND_MADE
    )
    if by_sign:
        return (
            "you judged by the sign of the mean alone. The mean of 1000 episodes is itself "
            "noisy: only when the whole interval [mean - ci95, mean + ci95] lies on one side "
            "of 0 can you say which method is better."
        )
    never_hurts = all(answers[(mean, ci)] != "hurts" for mean, ci, _ in HAND_MADE)
    if never_hurts:
        return (
            "a trick can also make things worse: when the whole interval is below 0 "
            "(mean + ci95 < 0), the verdict is 'hurts'."
        )
    return (
        "compare the interval's ends with 0: mean - ci95 > 0 -> 'helps', "
        "mean + ci95 < 0 -> 'hurts', otherwise 'unclear'."
    )


def check_verdict(verdict, rows: list[dict] | None = None) -> bool:
    """Check ``verdict(mean, ci95) -> "helps" | "hurts" | "unclear"``.

    Runs it on the hand-made differences of :data:`HAND_MADE`; with ``rows`` (from
    :func:`fewshot_utils.benchmark.run_benchmark`) also counts the verdicts it gives
    on the benchmark. Prints the verdict and a hint; returns ``True`` when all agree.
    """
    if verdict is None or not callable(verdict):
        return not_answered("define a function verdict(mean, ci95) and pass it here.")
    name = name_of(verdict)
    answers = {}
    for mean, ci95, _ in HAND_MADE:
        try:
            answer = verdict(mean, ci95)
        except Exception as error:  # a learner's bug is reported, never raised
            return failed(
                f"{name}({mean}, {ci95}) raised {type(error).__name__}: {error}.",
                "mean and ci95 are plain numbers (points); return one of the three strings.",
            )
        if answer is None and not answers:
            return not_answered(f"{name} returns None: replace `return None` with your code.")
        if answer not in VERDICTS:
            return failed(
                f"{name}({mean}, {ci95}) returned {answer!r}.",
                "return exactly one of the strings 'helps', 'hurts' or 'unclear'.",
            )
        answers[(mean, ci95)] = answer
    wrong = [(m, c, e) for m, c, e in HAND_MADE if answers[(m, c)] != e]
    if wrong:
        mean, ci95, expected = wrong[0]
        low, high = mean - ci95, mean + ci95
        return failed(
            f"{len(wrong)} of {len(HAND_MADE)} hand-made differences wrong; e.g. "
            f"{mean:+.2f} ± {ci95:.2f} points (interval [{low:+.2f}, {high:+.2f}]) is "
            f"{expected!r}, you said {answers[(mean, ci95)]!r}.",
            _slip(answers),
        )
    passed(
        f"{name} gives the right verdict for all {len(HAND_MADE)} hand-made differences: "
        "a trick helps (or hurts) only when its whole interval is above (or below) 0."
    )
    if rows is not None:
        pairs = [row for row in rows if row["method"] != "prototype"]
        counts = {word: 0 for word in VERDICTS}
        for row in pairs:
            counts[verdict(row["paired_vs_prototype"], row["paired_ci95"])] += 1
        print(
            f"   On the benchmark ({len(pairs)} method-setting pairs against the prototypes): "
            + ", ".join(f"{counts[word]} {word}" for word in VERDICTS)
            + "."
        )
    return True


# ----------------------------------------------------------------------------
# The benchmark's verdicts, as a table and as a figure
# ----------------------------------------------------------------------------


def _settings(rows: list[dict]) -> list[tuple[int, int]]:
    return list(dict.fromkeys((row["ways"], row["shots"]) for row in rows))


def _methods(rows: list[dict]) -> list[str]:
    return [m for m in dict.fromkeys(row["method"] for row in rows) if m != "prototype"]


def verdict_table(rows: list[dict], verdict=trick_verdict) -> str:
    """Markdown: each method (rows) in each setting (columns), ``+0.56 ± 0.21 helps``."""
    settings = _settings(rows)
    cells = {(row["method"], row["ways"], row["shots"]): row for row in rows}
    header = ["method"] + [f"{ways}-way {shots}-shot" for ways, shots in settings]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for method in _methods(rows):
        line = [method]
        for ways, shots in settings:
            row = cells.get((method, ways, shots))
            if row is None or row["paired_vs_prototype"] is None:
                line.append("")
                continue
            mean, ci95 = row["paired_vs_prototype"], row["paired_ci95"]
            line.append(f"{mean:+.2f} ± {ci95:.2f} **{verdict(mean, ci95)}**")
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines) + "\n"


def paired_differences_figure(rows: list[dict], title: str | None = None) -> Figure:
    """One panel per setting: each method's paired difference to the prototypes, ``d ± ci95``.

    A dot and its 95% interval per method, a line at 0; green when the interval is
    above 0 (helps), red when below (hurts), grey when it contains 0 (unclear).
    """
    settings, methods = _settings(rows), _methods(rows)
    if not methods:
        raise ValueError("the rows hold only the prototype classifier: nothing to compare")
    cells = {(row["method"], row["ways"], row["shots"]): row for row in rows}
    colours = {"helps": RIGHT, "hurts": WRONG, "unclear": "grey"}
    size = (2.3 * len(settings) + 2.2, 0.42 * len(methods) + 1.2)
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(settings), sharey=True))
    positions = np.arange(len(methods))[::-1]
    for ax, (ways, shots) in zip(axes, settings, strict=True):
        ax.axvline(0, color="black", linewidth=0.8)
        for y, method in zip(positions, methods, strict=True):
            row = cells.get((method, ways, shots))
            if row is None or row["paired_vs_prototype"] is None:
                continue
            mean, ci95 = row["paired_vs_prototype"], row["paired_ci95"]
            ci95 = 0.0 if math.isnan(ci95) else ci95
            colour = colours[trick_verdict(mean, ci95)]
            ax.errorbar(mean, y, xerr=ci95, fmt="o", color=colour, capsize=3, markersize=4)
        ax.set_title(f"{ways}-way {shots}-shot", fontsize=9)
        ax.set_xlabel("points vs prototype", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, methods, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------
# Published numbers
# ----------------------------------------------------------------------------

#: Published few-shot accuracies (%) the course compares with: one entry per method.
PUBLISHED = (
    {
        "source": "Snell et al. 2017",
        "method": "Prototypical Networks",
        "data": "Omniglot, Vinyals' split (rotations as extra classes)",
        "backbone": "Conv4",
        "accuracy": {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "support-based init",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 56.2, (5, 5): 73.3},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "fine-tuning",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 57.7, (5, 5): 78.2},
    },
    {
        "source": "Dhillon et al. 2020",
        "method": "transductive fine-tuning",
        "data": "miniImageNet",
        "backbone": "WRN-28-10",
        "accuracy": {(5, 1): 65.7, (5, 5): 78.4},
    },
)


def published_table(
    rows: list[dict],
    dataset: str = "Omniglot, Lake's split",
    ours=("prototype", "W = M + entropy + cosine"),
) -> str:
    """Markdown: the published numbers, then ours (methods ``ours`` of ``rows``, with CIs).

    ``dataset`` describes the data ``rows`` were computed on (our backbone is Conv4).
    """
    settings = _settings(rows)
    cells = {(row["method"], row["ways"], row["shots"]): row for row in rows}
    header = ["source", "method", "data", "backbone"] + [f"{w}-way {s}-shot" for w, s in settings]
    rule = "|" + "|".join(["---"] * 4 + ["---:"] * len(settings)) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    for entry in PUBLISHED:
        numbers = [
            f"{entry['accuracy'][setting]:.1f}" if setting in entry["accuracy"] else "—"
            for setting in settings
        ]
        fields = [entry["source"], entry["method"], entry["data"], entry["backbone"]]
        lines.append("| " + " | ".join(fields + numbers) + " |")
    for method in ours:
        numbers = []
        for ways, shots in settings:
            row = cells.get((method, ways, shots))
            numbers.append("—" if row is None else f"{row['accuracy']:.1f} ± {row['ci95']:.1f}")
        fields = ["**this course**", method, dataset, "Conv4"]
        lines.append("| " + " | ".join(fields + numbers) + " |")
    return "\n".join(lines) + "\n"
