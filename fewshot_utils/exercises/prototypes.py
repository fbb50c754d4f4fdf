"""Checkers for notebook 04: build the prototypes M yourself, then classify a query.

* :func:`check_prototypes`: ``my_prototypes(support)``: ``[N, K, d] -> M [N, d]``,
  compared with :func:`fewshot_utils.fewshot.prototypes.prototypes` (normalise, mean per
  class, normalise again); the usual slips (forgetting a normalisation, the mean
  over the wrong dimension) get their own message.
* :func:`check_query_probabilities`: ``p = softmax(M q̂)`` for one query, compared
  with :func:`fewshot_utils.fewshot.prototypes.prototype_probabilities`.

Like every checker of the course they print and return ``True``/``False``, and
never raise on a wrong answer.
"""

from __future__ import annotations

import torch

from fewshot_utils.exercises.checking import (
    answer,
    as_tensor,
    call,
    close,
    failed,
    likely_mistake,
    matches,
    name_of,
    not_answered,
    passed,
    shape,
)
from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.prototypes import prototype_probabilities, prototypes

FORGOT_BEFORE = (
    "normalise each support feature BEFORE the mean too: l2_normalize(support), then "
    ".mean(dim=1). Without it, a drawing with a long feature vector (lots of ink, see "
    "notebook 03) pulls the prototype towards itself more than the other shots do."
)
FORGOT_AFTER = (
    "normalise the means AFTER averaging as well: the mean of unit vectors is shorter than "
    "1 (the more the shots disagree, the shorter), and every row of M should have length 1."
)


def hand_made_support() -> torch.Tensor:
    """``[2, 2, 2]``: 2 classes, 2 shots, 2-d features whose lengths differ a lot.

    Class 0: ``(1, 0)`` and ``(0, 3)`` -> ``m_0 = (1/√2, 1/√2)``;
    class 1: ``(4, 0)`` and ``(0, -1)`` -> ``m_1 = (1/√2, -1/√2)``.
    """
    return torch.tensor([[[1.0, 0.0], [0.0, 3.0]], [[4.0, 0.0], [0.0, -1.0]]])


def _random_support() -> torch.Tensor:
    """``[5, 3, 16]`` with lengths from 0.2 to 5, so every slip changes the answer."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(5, 3, 16, generator=generator)
    lengths = 0.2 + 4.8 * torch.rand(5, 3, 1, generator=generator)
    return l2_normalize(features) * lengths


def _diagnose_prototypes(support: torch.Tensor, result: torch.Tensor) -> str:
    """The likely slip behind a wrong ``M``, as a hint."""
    N, K, d = support.shape
    unit = l2_normalize(support)
    if list(result.shape) == [K, d] and K != N:
        return "you averaged over the classes (dim=0). Average each class's shots: dim=1."
    if list(result.shape) == [N, K, d]:
        return "average each class's K shots: .mean(dim=1) turns [N, K, d] into [N, d]."
    if list(result.shape) == [d]:
        return "you averaged over everything: average over the shots only, .mean(dim=1)."
    if list(result.shape) != [N, d]:
        return f"M has one row of length d per class: shape [N, d] = [{N}, {d}]."
    candidates = [
        (
            lambda: support.mean(dim=1),
            "this is the plain mean of the support features: normalise each support feature "
            "before the mean AND the mean after it.",
        ),
        (lambda: l2_normalize(support.mean(dim=1)), FORGOT_BEFORE),
        (lambda: unit.mean(dim=1), FORGOT_AFTER),
        (lambda: unit.sum(dim=1), FORGOT_AFTER),
        (
            lambda: l2_normalize(unit.mean(dim=0)),
            "you averaged over the classes (dim=0), mixing classes together. Average each "
            "class's shots: dim=1.",
        ),
        (
            lambda: l2_normalize(l2_normalize(support, dim=0).mean(dim=1)),
            "you normalised along dim=0 (across classes). Normalise each feature vector "
            "along its last dimension: dim=-1.",
        ),
        (
            lambda: l2_normalize(l2_normalize(support).mean(dim=1), dim=0),
            "normalise each mean along the feature dimension (dim=-1), not across classes.",
        ),
    ]
    return likely_mistake(
        candidates,
        result,
        "M = normalise(mean over the shots of normalise(support)): three steps, "
        "l2_normalize(support), .mean(dim=1), l2_normalize(...) again.",
    )


def check_prototypes(my_prototypes, support: torch.Tensor | None = None) -> bool:
    """Check ``my_prototypes(support)``: ``[N, K, d] -> M [N, d]`` against ``prototypes``.

    Runs it on a hand-made support set (2 classes, 2 shots, lengths 1 to 4), on
    a random one (5 classes, 3 shots, 16-d, lengths 0.2 to 5), and on
    ``support`` when given (e.g. a real episode's features). A function that
    also handles a batch of episodes ``[E, N, K, d]`` earns a bonus line (not
    required). Prints the verdict and a hint; returns ``True`` when all agree.
    """
    name = name_of(my_prototypes)
    if my_prototypes is None or not callable(my_prototypes):
        return not_answered("define a function my_prototypes(support) and pass it here.")
    cases = [
        ("the hand-made support set [2, 2, 2]", hand_made_support()),
        ("a random support set [5, 3, 16]", _random_support()),
    ]
    if support is not None:
        cases.append((f"the episode's support set {shape(support)}", support.detach()))
    for index, (description, features) in enumerate(cases):
        expected = prototypes(features)
        verdict, result = answer(
            my_prototypes,
            (features,),
            description,
            index == 0,
            "support is [N, K, d]: normalise along dim=-1, average along dim=1.",
        )
        if verdict is not None:
            return verdict
        if torch.isnan(result).any():
            return failed(
                f"{name}({description}) contains NaN.",
                "divide by lengths clamped away from zero, as l2_normalize does.",
            )
        if not close(result, expected):
            lengths = ", ".join(f"{v:.2f}" for v in result.norm(dim=-1).flatten()[:5].tolist())
            detail = (
                f"your M has shape {shape(result)}, expected {shape(expected)}"
                if result.shape != expected.shape
                else f"your rows have lengths {lengths}"
            )
            return failed(
                f"{name}({description}) differs from fewshot_utils.fewshot.prototypes ({detail}).",
                _diagnose_prototypes(features, result),
            )
    passed(
        f"{name} agrees with fewshot_utils.fewshot.prototypes on {len(cases)} support sets: "
        "normalise, mean per class, normalise again; every row of M has length 1."
    )
    batch = torch.stack([_random_support(), _random_support().flip(1), -_random_support()])
    result, _ = call(my_prototypes, batch)
    result = None if result is None else as_tensor(result)
    if result is not None and close(result, prototypes(batch)):
        print("   Bonus: it also works on a batch of episodes [E, N, K, d] -> [E, N, d].")
    else:
        print(
            "   (Optional) it does not handle a batch of episodes [E, N, K, d]; with "
            ".mean(dim=-2) and lengths along dim=-1 the same code works for any number of "
            "leading dimensions, as fewshot_utils.fewshot.prototypes does."
        )
    return True


def check_query_probabilities(p, M: torch.Tensor, query: torch.Tensor) -> bool:
    """Check ``p = softmax(M q̂)``: one query's probabilities ``[N]``, prototypes ``M [N, d]``.

    ``query`` is the raw feature ``[d]``. Prints the verdict and a hint; returns
    ``True`` when ``p`` agrees with
    :func:`fewshot_utils.fewshot.prototypes.prototype_probabilities`.
    """
    if p is None:
        return not_answered("set p to the query's probabilities, softmax(M q̂).")
    p = as_tensor(p)
    if p is None:
        return failed("p is not a tensor of numbers.")
    expected = prototype_probabilities(M.unsqueeze(0), query.reshape(1, 1, -1))[0, 0]
    N = M.shape[0]
    if p.numel() == N and p.shape != expected.shape:
        p = p.reshape(expected.shape)  # [1, N] or [N, 1] is fine
    if p.shape != expected.shape:
        return failed(
            f"p has shape {shape(p)}; it should have one probability per class: [{N}].",
            "M [N, d] @ q̂ [d] gives N logits, one per class.",
        )
    if close(p, expected, 1e-4):
        return passed(
            f"p = softmax(M q̂) sums to 1; the largest probability ({float(p.max()):.3f}) is "
            f"class {int(p.argmax())}, the prototype nearest the query."
        )
    unit = l2_normalize(query)
    candidates = [
        (
            lambda: (M @ query).softmax(dim=-1),
            "normalise the query first: q̂ = q / |q|, so the logits are cosines in [-1, 1].",
        ),
        (lambda: M @ unit, "these are the logits M q̂ (cosines): apply the softmax to them."),
        (lambda: M @ query, "these are raw logits M q: normalise q, then apply the softmax."),
        (
            lambda: (M @ unit).exp(),
            "exp alone is not a softmax: divide by the sum of the exponentials too.",
        ),
        (
            lambda: (-(M @ unit)).softmax(dim=-1),
            "the sign is flipped: the nearest prototype has the LARGEST cosine, so use "
            "softmax(M q̂), not softmax(-M q̂).",
        ),
    ]
    for make_candidate, hint in candidates:
        if matches(make_candidate, p):
            return failed("p is not softmax(M q̂) yet.", hint)
    return failed(
        f"p does not match softmax(M q̂) (your p sums to {float(p.sum()):.3f}).",
        "q̂ = l2_normalize(query); logits = M @ q̂; p = logits.softmax(dim=-1).",
    )
