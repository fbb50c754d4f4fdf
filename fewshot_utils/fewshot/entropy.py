"""The entropy of a prediction: how unsure a classifier is, the quantity trick 2 regularises.

For class probabilities ``p = softmax(z)`` over ``N`` classes,

    H(p) = -Σ_n p_n log p_n          (natural log, nats; 0 log 0 = 0)

is 0 for a certain prediction (one ``p_n = 1``) and ``log N`` for the uniform one.
Fine-tuning with ``entropy_weight`` λ > 0 adds λ times the mean ``H`` over the
episode's queries to the support loss (:mod:`fewshot_utils.fewshot.fine_tuning`).
"""

from __future__ import annotations

import torch


def entropy(probabilities: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``H(p) = -Σ_n p_n log p_n`` (natural log, with ``0 log 0 = 0``), summed over ``dim``.

    ``[..., N] -> [...]``. It is 0 for a certain prediction (one ``p_n = 1``) and
    ``log N`` for the uniform one.
    """
    return -torch.xlogy(probabilities, probabilities).sum(dim=dim)


def entropy_from_logits(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``H(softmax(z))`` computed stably from logits ``z``: ``[..., N] -> [...]``.

    Uses ``log p = log_softmax(z)``. Its gradient is ``∂H/∂z_n = -p_n (log p_n + H)``.
    """
    log_p = torch.log_softmax(logits, dim=dim)
    return -(log_p.exp() * log_p).sum(dim=dim)
