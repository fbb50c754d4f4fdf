"""Notebook 08: does a trick help? Read a paired difference and its confidence interval.

A trick is compared with the prototype classifier on the *same* episodes: the
paired difference ``d = mean_e (a_e - b_e)`` in points, with its 95% interval
``d ± ci95``. The verdict:

* ``"helps"`` when the whole interval is above 0 (``d - ci95 > 0``);
* ``"hurts"`` when the whole interval is below 0 (``d + ci95 < 0``);
* ``"unclear"`` when the interval contains 0: with these many episodes the
  data cannot tell the two methods apart (which is not the same as "equal").

:func:`check_verdict` checks the learner's ``verdict(mean, ci95)`` on hand-made
differences that catch the usual slips (judging by the mean alone, forgetting that a
trick can hurt), against the package's :func:`fewshot_utils.fewshot.evaluation.verdict`;
:func:`fewshot_utils.viz.tables.verdict_table` and
:func:`fewshot_utils.viz.results.paired_differences_figure` show the benchmark's verdicts.

Like every checker of the course, :func:`check_verdict` prints and returns
``True``/``False`` and never raises on a wrong answer.
"""

from __future__ import annotations

from fewshot_utils.exercises.checking import failed, name_of, not_answered, passed
from fewshot_utils.fewshot.evaluation import VERDICTS

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
    :func:`fewshot_utils.fewshot.benchmark.run_benchmark`) also counts the verdicts it gives
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
