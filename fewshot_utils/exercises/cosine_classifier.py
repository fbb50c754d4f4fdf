"""Checker for notebook 07: the logits of the cosine-similarity classifier with a scale.

Trick 3 normalises both the weight vectors and the query before their product:

    z_n = s · cos(w_n, q) = s · (w_n / |w_n|) · (q / |q|)

so a class cannot win by growing its ``|w_n|``, and the scale ``s`` (an inverse
temperature) alone sets how peaked ``softmax(z)`` can get.

:func:`check_cosine_logits` runs the learner's ``my_cosine_logits(W, queries, scale)``
(``W [N, d]``, ``queries [Q, d]``, ``scale`` a number ``-> [Q, N]``) on a case worked
by hand and on random ones, compares with
:func:`fewshot_utils.fewshot.fine_tuning.classifier_logits`, and names the usual slips (one
of the normalisations forgotten, the scale missing or dividing, the transpose).
It prints and returns ``True``/``False`` and never raises on a wrong answer.
"""

from __future__ import annotations

import torch

from fewshot_utils.exercises.checking import (
    answer,
    close,
    failed,
    likely_mistake,
    name_of,
    not_answered,
    passed,
)
from fewshot_utils.exercises.checking import matches as _matches
from fewshot_utils.exercises.checking import shape as _shape
from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.softmax_classifier import classifier_logits

TOLERANCE = 1e-4


def cosine_logits(W: torch.Tensor, queries: torch.Tensor, scale: float) -> torch.Tensor:
    """The reference: ``s · cos(w_n, q_i)``, ``W [N, d], queries [Q, d] -> [Q, N]`` (no bias)."""
    bias = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    return classifier_logits(W, bias, queries, classifier="cosine", scale=scale)


def hand_made_case() -> tuple[torch.Tensor, torch.Tensor, float]:
    """``w_0 = (2, 0)``, ``w_1 = (0, 0.5)``; queries ``(3, 3)`` and ``(0, 1)``; ``s = 10``.

    ``(3, 3)`` is at 45° from both weights: logits ``(7.07, 7.07)``, a tie, even though
    ``w_0`` is four times longer; ``(0, 1)`` points along ``w_1``: logits ``(0, 10)``.
    """
    return torch.tensor([[2.0, 0.0], [0.0, 0.5]]), torch.tensor([[3.0, 3.0], [0.0, 1.0]]), 10.0


def _cases():
    generator = torch.Generator().manual_seed(7)
    lengths = torch.linspace(0.3, 4.0, 5).unsqueeze(1)
    return [
        ("the hand-made case (s = 10)", *hand_made_case()),
        (
            "5 random weights [5, 16] of lengths 0.3 to 4, 7 queries [7, 16], s = 3",
            torch.randn(5, 16, generator=generator) * lengths,
            2 * torch.randn(7, 16, generator=generator),
            3.0,
        ),
        (
            "3 random weights [3, 8], 3 queries [3, 8], s = 0.5",
            torch.randn(3, 8, generator=generator),
            torch.randn(3, 8, generator=generator) * 5,
            0.5,
        ),
    ]


def _diagnose(W, queries, scale, result) -> str:
    W_hat, q_hat = l2_normalize(W), l2_normalize(queries)
    candidates = [
        (
            lambda: scale * q_hat @ W.T,
            "you did not normalise the weights: use w_n / |w_n| too, so a long w_n cannot "
            "win just by its length (that is the linear classifier).",
        ),
        (
            lambda: scale * queries @ W_hat.T,
            "you did not normalise the queries: use q / |q| too.",
        ),
        (
            lambda: scale * queries @ W.T,
            "normalise both: l2_normalize(queries) @ l2_normalize(W).T, times s.",
        ),
        (lambda: q_hat @ W_hat.T, "the cosines are right: multiply them by the scale s."),
        (
            lambda: q_hat @ W_hat.T / scale,
            "you divided by s. Here s multiplies the cosine (some papers write cos / τ with a "
            "temperature τ = 1/s; the course's s is the inverse).",
        ),
        (
            lambda: scale * W_hat @ q_hat.T,
            "the result is transposed: one row per query, one column per class, [Q, N]: "
            "l2_normalize(queries) @ l2_normalize(W).T.",
        ),
        (
            lambda: scale * l2_normalize(queries, dim=0) @ l2_normalize(W, dim=0).T,
            "you normalised along dim=0 (across rows). Normalise each vector along its last "
            "dimension: dim=-1.",
        ),
    ]
    return likely_mistake(
        candidates,
        result,
        "z = s · l2_normalize(queries) @ l2_normalize(W).T: normalise every weight and every "
        "query to length 1, take all inner products, multiply by s.",
        same=_matches,
    )


def check_cosine_logits(my_cosine_logits) -> bool:
    """Check ``my_cosine_logits(W, queries, scale)``: ``[N, d], [Q, d], s -> [Q, N]``.

    Cases: the hand-made case (a tie at 7.07 whatever the weights' lengths, and
    ``(0, 10)``), random weights of very different lengths with ``s = 3``, and a
    square case with ``s = 0.5`` that shows a transposed result. Prints the
    verdict and a hint; returns ``True`` when all agree with the package.
    """
    name = name_of(my_cosine_logits)
    if my_cosine_logits is None or not callable(my_cosine_logits):
        return not_answered("define a function my_cosine_logits(W, queries, scale) and pass it.")
    for index, (description, W, queries, scale) in enumerate(_cases()):
        expected = cosine_logits(W, queries, scale)
        verdict, result = answer(
            my_cosine_logits,
            (W, queries, scale),
            description,
            index == 0,
            "W is [N, d] and queries [Q, d]: queries @ W.T is [Q, N]; normalise along "
            "dim=-1 (x.norm(dim=-1, keepdim=True)).",
        )
        if verdict is not None:
            return verdict
        if result.shape != expected.shape:
            hint = (
                "one row per query and one column per class: queries @ W.T, not W @ queries.T."
                if result.shape == expected.T.shape
                else "the logits of Q queries over N classes are a [Q, N] matrix."
            )
            return failed(
                f"on {description} the logits have shape {_shape(result)}, expected "
                f"{_shape(expected)}.",
                hint,
            )
        if not close(result, expected, TOLERANCE):
            shown = ", ".join(f"{v:.3g}" for v in result.flatten()[:4].tolist())
            wanted = ", ".join(f"{v:.3g}" for v in expected.flatten()[:4].tolist())
            return failed(
                f"on {description} you get {shown} ...; expected {wanted} ...",
                _diagnose(W, queries, scale, result),
            )
    return passed(
        f"{name} agrees with fewshot_utils' cosine classifier: on the hand-made case the "
        "query (3, 3) ties at 7.07 although w_0 is four times longer than w_1, and (0, 1) "
        "gets (0, 10); weights of any length and any scale s give s · cos(w_n, q)."
    )
