"""Checkers for notebook 03: write L2 normalisation and cosine similarity yourself.

Each checker calls the learner's function on hand-made and random cases, compares
with :mod:`fewshot_utils.fewshot.cosine_similarity`, and prints what is right, or the
first thing that is wrong with a hint. It never raises on a wrong answer; it
returns ``True`` when everything agrees, ``False`` otherwise.

* :func:`check_l2_normalize`: ``my_l2_normalize(x)``: ``[..., d] -> [..., d]``, rows of length 1;
* :func:`check_cosine_similarity`: ``my_cosine_similarity(a, b)``: ``[..., d], [..., d] -> [...]``.
"""

from __future__ import annotations

import torch

from fewshot_utils.exercises import checking
from fewshot_utils.fewshot.cosine_similarity import cosine_similarity, l2_normalize


def _random(*size: int, seed: int) -> torch.Tensor:
    return torch.randn(*size, generator=torch.Generator().manual_seed(seed))


ZERO_VECTOR_HINT = (
    "a zero vector has length 0, and 0/0 is NaN. It has no direction, so define its unit "
    "vector as zero: divide by the length clamped away from zero, "
    "x.norm(dim=-1, keepdim=True).clamp_min(1e-12)."
)


# ----------------------------------------------------------------------------
# L2 normalisation
# ----------------------------------------------------------------------------


def _l2_cases() -> list[tuple[str, torch.Tensor]]:
    spread = _random(6, 8, seed=1) * torch.linspace(0.1, 10, 6).unsqueeze(1)
    return [
        ("the vector (3, 4)", torch.tensor([3.0, 4.0])),
        ("a batch of 6 vectors [6, 8] of different lengths", spread),
        ("a square batch [4, 4]", _random(4, 4, seed=2) * 3),
        ("a batch of batches [2, 3, 5]", _random(2, 3, 5, seed=3)),
        (
            "a zero vector among others [3, 4]",
            torch.tensor([[1.0, 2, 2, 4], [0] * 4, [0, 5, 0, 0]]),
        ),
    ]


def _diagnose_l2(x: torch.Tensor, result: torch.Tensor) -> str:
    """The likely mistake behind a wrong normalisation, as a hint."""
    candidates = [
        (
            lambda: x / x.norm(),
            "you divided by the length of the whole tensor. Each vector (row) needs its own "
            "length: x.norm(dim=-1, keepdim=True).",
        ),
        (
            lambda: x / x.norm(dim=-1),
            "the lengths x.norm(dim=-1) lost the last dimension, so the division paired them "
            "with the wrong entries (each column got one row's length). Keep that dimension: "
            "x.norm(dim=-1, keepdim=True).",
        ),
        (
            lambda: x / x.norm(dim=0, keepdim=True),
            "you normalised the columns (dim=0). Normalise each vector along the last "
            "dimension: dim=-1.",
        ),
        (
            lambda: x / (x**2).sum(dim=-1, keepdim=True),
            "you divided by the sum of squares |x|². The length is its square root: "
            "|x| = sqrt(Σ x_i²), or x.norm(dim=-1, keepdim=True).",
        ),
        (
            lambda: x / x.abs().sum(dim=-1, keepdim=True),
            "you divided by the sum of absolute values (the L1 length). The L2 length is "
            "sqrt(Σ x_i²): x.norm(dim=-1, keepdim=True).",
        ),
    ]
    return checking.likely_mistake(
        candidates,
        result,
        "x̂ = x / |x| with |x| = sqrt(Σ x_i²) taken over the last dimension: every row of "
        "the result has length 1 and points the same way as x.",
    )


def _l2_error_hint(error: str) -> str:
    if "must match the size" in error:
        return (
            "the lengths x.norm(dim=-1) have shape [6], one per row, which cannot divide "
            "[6, 8]. keepdim=True keeps them [6, 1], so each row is divided by its own length."
        )
    return (
        "work along the last dimension with x.norm(dim=-1, keepdim=True), so one "
        "vector [d] and batches [..., d] both work."
    )


def check_l2_normalize(my_l2_normalize) -> bool:
    """Check ``my_l2_normalize(x)`` against the package's
    :func:`fewshot_utils.fewshot.cosine_similarity.l2_normalize`.

    Cases: ``(3, 4) -> (0.6, 0.8)``, batches ``[6, 8]``, ``[4, 4]`` (catches a missing
    ``keepdim``), ``[2, 3, 5]``, and a zero vector (must stay zero, not NaN).
    Prints the verdict and a hint; returns ``True`` when all cases agree.
    """
    name = checking.name_of(my_l2_normalize)
    if my_l2_normalize is None or not callable(my_l2_normalize):
        return checking.not_answered(
            "define a function my_l2_normalize(x) and pass it to the checker."
        )
    for index, (description, x) in enumerate(_l2_cases()):
        expected = l2_normalize(x)
        verdict, result = checking.answer(
            my_l2_normalize, (x,), description, index == 0, _l2_error_hint
        )
        if verdict is not None:
            return verdict
        if result.shape != expected.shape:
            return checking.failed(
                f"{name}({description}) has shape {checking.shape(result)}; it should keep "
                f"the shape of x, {checking.shape(x)}.",
                "divide x by its lengths with keepdim=True, so [..., d] / [..., 1] keeps [..., d].",
            )
        if torch.isnan(result).any():
            return checking.failed(f"{name}({description}) contains NaN.", ZERO_VECTOR_HINT)
        if not checking.close(result, expected):
            rows = result.reshape(-1, result.shape[-1]).norm(dim=-1)
            lengths = ", ".join(f"{v:.3g}" for v in rows[:4].tolist())
            more = " ..." if len(rows) > 4 else ""
            return checking.failed(
                f"{name}({description}) is not x / |x|: the lengths of its rows are "
                f"{lengths}{more} (each should be 1).",
                _diagnose_l2(x, result),
            )
    return checking.passed(
        f"{name} agrees with fewshot_utils.fewshot.l2_normalize: (3, 4) -> (0.6, 0.8), batches "
        "[6, 8], [4, 4] and [2, 3, 5] get rows of length 1, and a zero vector stays zero."
    )


# ----------------------------------------------------------------------------
# Cosine similarity
# ----------------------------------------------------------------------------


def _cosine_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    u = torch.tensor([1.0, 2.0, 3.0])
    return [
        ("a = (3, 4), b = (4, 3)", torch.tensor([3.0, 4.0]), torch.tensor([4.0, 3.0])),
        ("parallel vectors, b = 2.5 a", u, 2.5 * u),
        ("anti-parallel vectors, b = -0.5 a", u, -0.5 * u),
        ("orthogonal vectors", torch.tensor([1.0, 0, 0]), torch.tensor([0, 2.0, 0])),
        ("a batch: a and b of shape [6, 8]", _random(6, 8, seed=4) * 5, _random(6, 8, seed=5)),
        ("a batch of batches [2, 3, 8]", _random(2, 3, 8, seed=6), _random(2, 3, 8, seed=7)),
        ("one vector a [8] against many b [5, 8]", _random(8, seed=8), _random(5, 8, seed=9)),
        ("a zero vector a = (0, 0, 0), b = (1, 2, 3)", torch.zeros(3), u),
    ]


def _diagnose_cosine(a: torch.Tensor, b: torch.Tensor, result: torch.Tensor) -> str:
    dot = (a * b).sum(dim=-1)
    norm_a, norm_b = a.norm(dim=-1), b.norm(dim=-1)
    candidates = [
        (
            lambda: dot,
            "this is the inner product a·b. Divide it by the two lengths: a·b / (|a| |b|).",
        ),
        (
            lambda: dot / (norm_a * norm_b) ** 2,
            "you divided by the squared lengths |a|²|b|². Divide by the lengths themselves: "
            "|a| = sqrt(Σ a_i²).",
        ),
        (lambda: dot / norm_a, "you divided by |a| only: divide by both lengths, |a| |b|."),
        (lambda: dot / norm_b, "you divided by |b| only: divide by both lengths, |a| |b|."),
        (
            lambda: 1 - dot / (norm_a * norm_b),
            "this is the cosine *distance* 1 - cos; the similarity is a·b / (|a| |b|).",
        ),
    ]
    return checking.likely_mistake(
        candidates,
        result,
        "cos(a, b) = a·b / (|a| |b|): multiply a and b elementwise, sum over the last "
        "dimension, and divide by both lengths.",
    )


def check_cosine_similarity(my_cosine_similarity) -> bool:
    """Check ``my_cosine_similarity(a, b)`` against :func:`fewshot_utils.fewshot.cosine_similarity`.

    Cases: a pair by hand (0.96), parallel (1), anti-parallel (-1), orthogonal
    (0), batches ``[6, 8]`` and ``[2, 3, 8]`` (one value per row), one vector
    against many (``[8], [5, 8] -> [5]``), and a zero vector (0, not NaN).
    Prints the verdict and a hint; returns ``True`` when all cases agree.
    """
    name = checking.name_of(my_cosine_similarity)
    if my_cosine_similarity is None or not callable(my_cosine_similarity):
        return checking.not_answered(
            "define a function my_cosine_similarity(a, b) and pass it here."
        )
    for index, (description, a, b) in enumerate(_cosine_cases()):
        expected = cosine_similarity(a, b)
        verdict, result = checking.answer(
            my_cosine_similarity,
            (a, b),
            description,
            index == 0,
            "a @ b and torch.dot work for two single vectors only. For batches, multiply "
            "elementwise and sum over the last dimension: (a * b).sum(dim=-1), and take "
            "lengths with a.norm(dim=-1).",
        )
        if verdict is not None:
            return verdict
        if result.shape != expected.shape:
            hint = (
                "you compared every row of a with every row of b (a matrix). Here a and b "
                "hold matching rows: one cosine per row, [6, 8], [6, 8] -> [6]. Multiply "
                "elementwise and sum over the last dimension: (a * b).sum(dim=-1)."
                if result.dim() == expected.dim() + 1
                else "sum over the last dimension only (dim=-1), so [..., d] -> [...]."
            )
            return checking.failed(
                f"on {description} the result has shape {checking.shape(result)}, expected "
                f"{checking.shape(expected)}.",
                hint,
            )
        if torch.isnan(result).any():
            return checking.failed(
                f"on {description} the result is NaN; it should be 0.", ZERO_VECTOR_HINT
            )
        if not checking.close(result, expected):
            shown = ", ".join(f"{v:.4g}" for v in result.flatten()[:3].tolist())
            wanted = ", ".join(f"{v:.4g}" for v in expected.flatten()[:3].tolist())
            more = " ..." if expected.numel() > 3 else ""
            return checking.failed(
                f"on {description} you get {shown}{more}; the cosine is {wanted}{more}.",
                _diagnose_cosine(a, b, result),
            )
    return checking.passed(
        f"{name} agrees with fewshot_utils.fewshot.cosine_similarity: 0.96 for (3, 4) and (4, 3), "
        "1 for parallel, -1 for anti-parallel, 0 for orthogonal vectors, one value per row "
        "for batches, one vector against many, and 0 for a zero vector."
    )
