"""Fine-tuning's gradients, written out: what autograd would compute, in fewer passes.

Fine-tuning takes hundreds of small Adam steps; most of a step's time went to the many
small element-wise operations autograd records for the softmax, the logarithm and the
entropy. Their gradients have short closed forms. With ``p = softmax(z)`` over the
``N`` classes (logits ``z``, class-major: ``[E, N, R]``, one column per image):

* **cross-entropy** of a support image of class ``y``: ``L = -log p_y``, and
  ``∂L/∂z_n = p_n - [n = y]``;
* **entropy** of a query's prediction: ``H = -Σ_n p_n log p_n``, and
  ``∂H/∂z_n = -p_n (log p_n + H)``;
* **the cosine classifier's weights**: the logits use ``s ŵ_n`` with ``ŵ = w / |w|``,
  so a gradient ``g`` for ``s ŵ`` becomes ``(s / |w|) (g - ŵ (ŵ · g))`` for ``w``
  (the part of ``g`` along ``w`` only changes ``|w|``, which the logits ignore).

Each loss is an episode's *mean* over its images (``1/R``); the gradients are of the sum
over episodes, so episode ``e``'s gradient is that of its own loss. Tests compare every
function here with autograd.
"""

from __future__ import annotations

import torch

from fewshot_utils.fewshot.cosine_similarity import EPS


def loss_and_logit_gradient(
    logits: torch.Tensor,
    labels: torch.Tensor,
    entropy_weight: float = 0.0,
    support_gradient=None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Fine-tuning's loss on all the logits of a step, and its gradient, in one softmax.

    ``logits [E, N, R + Q]`` (class-major): the ``R`` support images first (``labels int64
    [E, R]``), then ``Q`` queries (possibly none). Returns ``(support loss [E], mean query
    entropy [E] or None, ∂L/∂logits [E, N, R (+ Q)])`` for ``L = Σ_e [L_CE(e) + λ ·
    mean_i H_i(e)]``: the gradient covers the queries only when ``entropy_weight`` λ > 0.
    ``support_gradient(support_logits) -> (loss [E], gradient)``: another support loss
    than the cross-entropy (its gradient replaces the support columns').
    """
    support_count = labels.shape[1]
    log_p = torch.log_softmax(logits, dim=1)
    gradient = log_p.exp()  # p, turned into the gradient in place below
    picked = log_p[..., :support_count].gather(1, labels.unsqueeze(1)).squeeze(1)
    support_loss = -picked.mean(dim=1)
    entropy = None
    if logits.shape[2] > support_count:
        p_query, log_p_query = gradient[..., support_count:], log_p[..., support_count:]
        each = -(p_query * log_p_query).sum(dim=1)  # [E, Q]: H of each query
        entropy = each.mean(dim=1)
        if entropy_weight > 0:
            scale = -entropy_weight / each.shape[1]
            p_query.mul_(log_p_query.add_(each.unsqueeze(1))).mul_(scale)
    support = gradient[..., :support_count]
    if support_gradient is None:
        support.scatter_add_(1, labels.unsqueeze(1), torch.full_like(picked, -1.0).unsqueeze(1))
        support.div_(support_count)
    else:
        support_loss, custom = support_gradient(logits[..., :support_count])
        support.copy_(custom)
    if entropy_weight > 0 or entropy is None:
        return support_loss, entropy, gradient
    return support_loss, entropy, support


def weight_gradient_to_W(
    W: torch.Tensor,
    weight: torch.Tensor,
    weight_gradient: torch.Tensor,
    classifier: str,
    scale,
) -> torch.Tensor:
    """The gradient for ``W`` from the gradient for the weight the logits use.

    ``"linear"``: the weight is ``W``. ``"cosine"``: the weight is ``s ŵ`` (``weight``,
    ``[E, N, d]``; ``scale`` a number or ``[E]``), and the gradient for ``W`` is
    ``(s / |w|) (g - ŵ (ŵ · g))``.
    """
    if classifier != "cosine":
        return weight_gradient
    if isinstance(scale, torch.Tensor) and scale.dim() > 0:
        scale = scale.view(-1, *([1] * (W.dim() - 1)))
    length = W.norm(dim=-1, keepdim=True).clamp_min(EPS)
    unit = weight / scale  # ŵ
    along = (unit * weight_gradient).sum(dim=-1, keepdim=True)
    return (weight_gradient - unit * along).mul_(scale / length)
