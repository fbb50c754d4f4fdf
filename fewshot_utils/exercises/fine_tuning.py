"""Checker for notebook 05: write the support cross-entropy that fine-tuning minimises.

For one episode with support features ``ŝ_{n,k}`` (already normalised, ``[N, K, d]``)
and a softmax classifier ``W [N, d], b [N]``, the loss of trick 1 is

    L_CE = -(1/NK) Σ_{n,k} log p(n | ŝ_{n,k}),      p(· | ŝ) = softmax(W ŝ + b)

:func:`check_support_cross_entropy` runs the learner's
``my_support_cross_entropy(W, b, support)`` on a case worked by hand and on random
ones, compares with the package's loss, and names the usual slips (a sum
instead of a mean, labels in the wrong order, softmax over the wrong dimension,
a missing minus sign, the bias forgotten). Like every checker it prints and
returns ``True``/``False`` and never raises on a wrong answer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fewshot_utils.exercises.checking import (
    answer,
    failed,
    matches,
    name_of,
    not_answered,
    one_number,
    passed,
)
from fewshot_utils.fewshot.cosine_similarity import l2_normalize

TOLERANCE = 1e-4


def support_cross_entropy(W: torch.Tensor, b: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """The reference: ``L_CE`` of ``softmax(W ŝ + b)`` on a support set ``[N, K, d]``, a scalar.

    Support image ``(n, k)`` has label ``n``; the features are used as given
    (``ŝ``: the course normalises them before the classifier sees them).
    """
    ways, shots, dim = support.shape
    logits = support.reshape(ways * shots, dim) @ W.T + b  # [NK, N]
    labels = torch.arange(ways, device=logits.device).repeat_interleave(shots)  # 0..0, 1..1, ...
    return F.cross_entropy(logits, labels)


def hand_made_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2 classes, 1 shot, 2-d: ``W = I``, ``b = 0``, ``ŝ_0 = (1, 0)``, ``ŝ_1 = (0, 1)``.

    Each support image has logits ``(1, 0)`` for its own class first, so
    ``p = e / (e + 1) = 0.731`` and ``L_CE = log(1 + e⁻¹) = 0.3133``.
    """
    return torch.eye(2), torch.zeros(2), torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])


def _cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)

    def random_case(ways, shots, dim):
        W = torch.randn(ways, dim, generator=generator)
        b = torch.randn(ways, generator=generator)
        support = l2_normalize(torch.randn(ways, shots, dim, generator=generator))
        return W, b, support

    return [
        ("the hand-made episode (2-way 1-shot, W = I, b = 0)", *hand_made_case()),
        ("a random 5-way 1-shot episode (d = 16)", *random_case(5, 1, 16)),
        ("a random 3-way 4-shot episode (d = 8)", *random_case(3, 4, 8)),
        ("a random 4-way 2-shot episode (d = 6)", *random_case(4, 2, 6)),
    ]


def _diagnose(W, b, support, value: float) -> str:
    ways, shots, dim = support.shape
    flat = support.reshape(ways * shots, dim)
    logits = flat @ W.T + b
    labels = torch.arange(ways, device=logits.device).repeat_interleave(shots)
    shuffled = torch.arange(ways, device=logits.device).repeat(shots)  # 0, 1, 2, 0, 1, 2: wrong
    expected = support_cross_entropy(W, b, support)
    candidates = [
        (
            lambda: F.cross_entropy(logits, labels, reduction="sum"),
            "you summed the losses of the N·K support images: take their mean (divide by N·K), "
            "as F.cross_entropy does by default.",
        ),
        (
            lambda: F.cross_entropy(logits, shuffled),
            "the labels are in the wrong order. support.reshape(N*K, d) lists class 0's K "
            "shots first, then class 1's: the labels are torch.arange(N).repeat_interleave(K) "
            "(0, 0, ..., 1, 1, ...), not torch.arange(N).repeat(K) (0, 1, ..., 0, 1, ...).",
        ),
        (
            lambda: F.cross_entropy(flat @ W.T, labels),
            "the bias b is missing: the logits are W ŝ + b.",
        ),
        (
            lambda: -expected,
            "the sign is flipped: L_CE = -mean log p(n | ŝ) is positive, and it falls towards "
            "0 as the classifier gets the support set right.",
        ),
        (
            lambda: -torch.log_softmax(logits, dim=0)[torch.arange(len(labels)), labels].mean(),
            "the softmax ran over the support images (dim=0). It must run over the classes: "
            "logits are [N·K, N], so log_softmax(logits, dim=1).",
        ),
        (
            lambda: -logits.softmax(dim=1)[torch.arange(len(labels)), labels].mean(),
            "you averaged the probabilities p(n | ŝ); the loss averages their negative "
            "logarithms, -log p(n | ŝ).",
        ),
        (
            lambda: F.cross_entropy(flat @ l2_normalize(W).T + b, labels),
            "you normalised W: that is the cosine classifier of notebook 07. The linear "
            "classifier uses W as it is.",
        ),
    ]
    for make_candidate, hint in candidates:
        if matches(lambda make=make_candidate: make().reshape(1), torch.tensor([value])):
            return hint
    return (
        "logits = support.reshape(N*K, d) @ W.T + b (shape [N·K, N]); labels = "
        "torch.arange(N).repeat_interleave(K); L_CE = F.cross_entropy(logits, labels)."
    )


def check_support_cross_entropy(my_support_cross_entropy) -> bool:
    """Check ``my_support_cross_entropy(W, b, support) -> L_CE`` (one number).

    ``W [N, d]``, ``b [N]``, ``support [N, K, d]`` (normalised features, shot
    ``k`` of class ``n`` at ``support[n, k]``). Cases: the hand-made episode
    (``L_CE = log(1 + e⁻¹) ≈ 0.3133``) and three random episodes with ``K ≠ N``, so
    that labels in the wrong order show. Prints the verdict and a hint; returns
    ``True`` when all agree with the package's loss.
    """
    name = name_of(my_support_cross_entropy)
    if my_support_cross_entropy is None or not callable(my_support_cross_entropy):
        return not_answered(
            "define a function my_support_cross_entropy(W, b, support) and pass it here."
        )
    for index, (description, W, b, support) in enumerate(_cases()):
        expected = float(support_cross_entropy(W, b, support))
        verdict, result = answer(
            my_support_cross_entropy,
            (W, b, support),
            description,
            index == 0,
            "support is [N, K, d]: reshape it to [N·K, d] before multiplying by W.T "
            "([d, N]), which gives logits [N·K, N].",
        )
        if verdict is None:
            verdict, value = one_number(
                my_support_cross_entropy,
                result,
                description,
                "the loss",
                "average the per-image losses -log p(n | ŝ_{n,k}) over all N·K support "
                "images: .mean(), or F.cross_entropy, which averages by default.",
            )
        if verdict is not None:
            return verdict
        if math.isnan(value):
            return failed(
                f"on {description} the loss is NaN.",
                "take log_softmax of the logits rather than log(softmax(...)), which "
                "underflows to log(0) for very wrong classes.",
            )
        if not math.isclose(value, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return failed(
                f"on {description} you get {value:.4f}; L_CE is {expected:.4f}.",
                _diagnose(W, b, support, value),
            )
    return passed(
        f"{name} agrees with the package's support loss: log(1 + e⁻¹) = 0.3133 on the "
        "hand-made episode, and the same L_CE as F.cross_entropy on three random episodes "
        "(1 to 4 shots)."
    )
