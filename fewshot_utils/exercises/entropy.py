"""Checkers for notebook 06: the entropy of a prediction, by hand and as code.

The entropy of a probability vector ``p`` (``N`` classes) is

    H(p) = -Σ_n p_n log p_n        (natural log: nats; 0 log 0 = 0)

0 for a certain prediction, ``log N`` for the uniform one. Trick 2 adds the mean
entropy of the episode's query predictions to the fine-tuning loss:

    L = L_CE + λ · (1/Q) Σ_i H(softmax(z_i)),      z_i: the logits of query i

* :func:`check_entropy_by_hand`: a number worked out on paper, ``H(1/2, 1/4, 1/4)``;
* :func:`check_mean_query_entropy`: ``my_mean_query_entropy(logits [Q, N]) -> scalar``,
  compared with :func:`fewshot_utils.fewshot.entropy.entropy_from_logits` on a
  hand-worked case, a uniform and a certain prediction (0, not NaN), random logits.

They print the verdict and a hint, return ``True``/``False``, and never raise.
"""

from __future__ import annotations

import math

import torch

from fewshot_utils.exercises.checking import (
    answer,
    as_number,
    failed,
    name_of,
    not_answered,
    one_number,
    passed,
)
from fewshot_utils.fewshot.entropy import entropy, entropy_from_logits

TOLERANCE = 1e-4

#: The distribution of the by-hand exercise and its entropy, 1.5 log 2 nats.
BY_HAND = (0.5, 0.25, 0.25)
BY_HAND_ENTROPY = 1.5 * math.log(2)


def check_entropy_by_hand(answer) -> bool:
    """Check a number worked out on paper: ``H(1/2, 1/4, 1/4)`` in nats (``1.5 log 2 ≈ 1.0397``)."""
    if answer is None:
        return not_answered("set answer to H(1/2, 1/4, 1/4) in nats, a number.")
    value = as_number(answer)
    if value is None:
        return failed("answer should be one number, e.g. answer = 0.123.")
    expected = BY_HAND_ENTROPY
    if math.isclose(value, expected, abs_tol=2e-3):
        return passed(
            f"H(1/2, 1/4, 1/4) = ½ log 2 + ¼ log 4 + ¼ log 4 = 1.5 log 2 = {expected:.4f} nats: "
            f"between 0 (certain) and log 3 = {math.log(3):.4f} (uniform over 3 classes)."
        )
    if math.isclose(value, 1.5, abs_tol=2e-3):
        return failed(
            "1.5 is the entropy in bits (log base 2).",
            "the course uses the natural log (nats), like torch.log: multiply by log 2.",
        )
    if math.isclose(value, -expected, abs_tol=2e-3):
        return failed(
            "the sign is flipped: log p_n < 0 for p_n < 1, so H = -Σ p_n log p_n is positive."
        )
    if math.isclose(value, math.log(3), abs_tol=2e-3):
        return failed(
            f"{value:.4f} = log 3 is the entropy of the uniform (1/3, 1/3, 1/3).",
            "use the given probabilities: -(½ log ½ + ¼ log ¼ + ¼ log ¼).",
        )
    return failed(
        f"{value:.4f} is not H(1/2, 1/4, 1/4).",
        "H = -(½ log ½ + ¼ log ¼ + ¼ log ¼), with log ½ = -log 2 and log ¼ = -2 log 2.",
    )


def mean_query_entropy(logits: torch.Tensor) -> torch.Tensor:
    """The reference: ``(1/Q) Σ_i H(softmax(z_i))`` for logits ``[Q, N]``, a scalar."""
    return entropy_from_logits(logits, dim=-1).mean()


def hand_worked_logits() -> torch.Tensor:
    """Two queries, two classes: logits ``(0, 0)`` and ``(0, log 3)``.

    ``p = (1/2, 1/2)``, ``H = log 2 = 0.6931``; ``p = (1/4, 3/4)``, ``H = 0.5623``;
    mean ``0.6277`` nats.
    """
    return torch.tensor([[0.0, 0.0], [0.0, math.log(3)]])


def _cases() -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(6)
    return [
        ("the hand-worked logits [[0, 0], [0, log 3]] (mean 0.6277)", hand_worked_logits()),
        ("uniform predictions, logits zeros [3, 4] (mean log 4)", torch.zeros(3, 4)),
        (
            "certain predictions, logits [[1000, 0, 0], [0, 0, 1000]] (mean 0)",
            torch.tensor([[1000.0, 0.0, 0.0], [0.0, 0.0, 1000.0]]),
        ),
        ("random logits [6, 5]", 3 * torch.randn(6, 5, generator=generator)),
    ]


def _diagnose(logits: torch.Tensor, value: float) -> str:
    p = logits.softmax(dim=-1)
    expected = float(mean_query_entropy(logits))
    candidates = [
        (
            expected / math.log(2),
            "you used log base 2 (bits); the course's entropy uses the natural log (nats), "
            "torch.log.",
        ),
        (
            float(entropy(p).sum()),
            "you summed over the queries: take the mean over the Q queries, so the weight λ "
            "does not depend on how many queries there are.",
        ),
        (-expected, "the sign is flipped: H = -Σ p_n log p_n is positive."),
        (
            float(entropy(logits.softmax(dim=0), dim=0).mean()),
            "the softmax ran over the queries (dim=0): it must run over the classes, "
            "logits.softmax(dim=-1), so each query's probabilities sum to 1.",
        ),
        (
            float((-(p * torch.log(p))).mean()),
            "you averaged over queries AND classes: sum over the classes (that is H of one "
            "query), then average over the queries.",
        ),
    ]
    for candidate, hint in candidates:
        if math.isfinite(candidate) and math.isclose(value, candidate, rel_tol=1e-3, abs_tol=1e-4):
            return hint
    return (
        "p = logits.softmax(dim=-1); H_i = -(p * log p).sum(dim=-1); return H.mean(). "
        "For certain predictions p_n = 0 gives 0 · log 0 = NaN: use torch.log_softmax, or "
        "torch.xlogy(p, p), which defines 0 log 0 = 0."
    )


def check_mean_query_entropy(my_mean_query_entropy) -> bool:
    """Check ``my_mean_query_entropy(logits [Q, N]) -> (1/Q) Σ_i H(softmax(z_i))``, one number.

    Cases: the hand-worked logits (0.6277 nats), uniform predictions (log 4),
    certain predictions (0, where a naive ``p * log p`` gives NaN) and random
    logits. Prints the verdict and a hint; returns ``True`` when all agree.
    """
    name = name_of(my_mean_query_entropy)
    if my_mean_query_entropy is None or not callable(my_mean_query_entropy):
        return not_answered("define a function my_mean_query_entropy(logits) and pass it here.")
    for index, (description, logits) in enumerate(_cases()):
        expected = float(mean_query_entropy(logits))
        verdict, result = answer(
            my_mean_query_entropy,
            (logits,),
            description,
            index == 0,
            "logits are [Q, N]: softmax over dim=-1, sum over the classes, mean over queries.",
        )
        if verdict is None:
            verdict, value = one_number(
                my_mean_query_entropy,
                result,
                description,
                "the mean entropy",
                "H of each query is a sum over the classes ([Q]); then take the mean over "
                "the queries: .mean().",
            )
        if verdict is not None:
            return verdict
        if math.isnan(value):
            return failed(
                f"on {description} the result is NaN; it should be {expected:.4f}.",
                "a certain prediction has p_n = 0 for the other classes, and 0 · log 0 is "
                "NaN in floating point (log 0 = -inf). Use log p = torch.log_softmax(logits, "
                "dim=-1), which stays finite, or torch.xlogy(p, p), which defines 0 log 0 = 0.",
            )
        if not math.isclose(value, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return failed(
                f"on {description} you get {value:.4f}; the mean entropy is {expected:.4f}.",
                _diagnose(logits, value),
            )
    return passed(
        f"{name} agrees with the package: 0.6277 nats for the hand-worked pair, log 4 = "
        f"{math.log(4):.4f} for uniform predictions, 0 (not NaN) for certain ones, and the "
        "same value on random logits."
    )
