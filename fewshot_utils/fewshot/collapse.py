"""Why fine-tuning with the entropy term can collapse: Adam's steps and the entropy's pull.

Notebook 06 finds that with a large entropy weight λ most queries of an episode can end up
in one class, and that a *smaller* learning rate can collapse more. This module follows
fine-tuning step by step to show why, with the two pieces written out.

**Adam's update** (Kingma and Ba 2015; what ``torch.optim.Adam`` computes, with its
defaults ``β1 = 0.9``, ``β2 = 0.999``, ``ε = 1e-8``), for each number ``θ`` of ``W`` and
``b`` with gradient ``g_t`` at step ``t = 1, 2, ...``::

    m_t = β1 m_{t-1} + (1 - β1) g_t           a running mean of the gradient (m_0 = 0)
    v_t = β2 v_{t-1} + (1 - β2) g_t²          a running mean of its square   (v_0 = 0)
    m̂_t = m_t / (1 - β1^t),   v̂_t = v_t / (1 - β2^t)        bias correction
    θ_t = θ_{t-1} - lr · m̂_t / (√v̂_t + ε)

At ``t = 1``, ``m̂ = g`` and ``v̂ = g²``: the step is ``lr · g / |g| = ±lr``, every number
moves by the learning rate *whatever the size of its gradient*, and while a gradient keeps
its sign the next steps stay close to ``lr`` (:func:`adam_step`). So after ``t`` early
steps each number has moved by up to about ``lr · t``: the learning rate sets how far the
classifier travels per step, the gradient only which way.

**The entropy's pull.** For one query with ``p = softmax(z)`` and ``H = -Σ_n p_n log p_n``,

    -∂H/∂z_n = p_n (log p_n + H),

positive for the classes with ``p_n > e^{-H}`` (those the query already leans to) and
negative for the others: going down the entropy raises the logits of the classes each
query leads with. The bias ``b_n`` is shared by all ``Q`` queries, and the entropy term
pushes it by ``-∂H̄/∂b_n = (1/Q) Σ_i p_in (log p_in + H_i)`` (:func:`entropy_push`; the
pushes sum to 0 over the classes). The class that most queries lean to gets the largest
push, and raising its bias raises its logit for every query at once: the more queries it
wins, the more queries lean to it, the harder it is pushed. The support cross-entropy pushes
back (:func:`trace_fine_tuning` records both pushes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.fine_tuning import FineTuning, random_init
from fewshot_utils.fewshot.prototypes import prototypes
from fewshot_utils.fewshot.softmax_classifier import effective_weight, softmax_logits

#: ``torch.optim.Adam``'s defaults, which :func:`fewshot_utils.fewshot.fine_tuning.fine_tune` uses.
BETAS = (0.9, 0.999)
EPSILON = 1e-8


def adam_step(
    parameter: torch.Tensor,
    gradient: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    t: int,
    lr: float,
    betas: tuple[float, float] = BETAS,
    eps: float = EPSILON,
) -> torch.Tensor:
    """One Adam step, written out: update ``parameter``, ``m`` and ``v`` in place and return
    the step ``θ_t - θ_{t-1}`` (same shape as ``parameter``).

    ``t`` counts from 1. ``m ← β1 m + (1 - β1) g``, ``v ← β2 v + (1 - β2) g²``,
    ``θ ← θ - lr · m̂ / (√v̂ + ε)`` with ``m̂ = m / (1 - β1^t)``, ``v̂ = v / (1 - β2^t)``
    (the module docstring). At ``t = 1`` every number with ``|g| ≫ ε`` moves by exactly
    ``±lr``.
    """
    if t < 1:
        raise ValueError(f"t counts Adam's steps from 1, got {t}")
    beta1, beta2 = betas
    m.mul_(beta1).add_(gradient, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    step = -lr * m_hat / (v_hat.sqrt() + eps)
    parameter.add_(step)
    return step


def entropy_push(query_logits: torch.Tensor) -> torch.Tensor:
    """How the mean query entropy pushes each class's bias: ``-∂H̄/∂b_n``, ``[..., Q, N] ->
    [..., N]``.

    ``H̄ = (1/Q) Σ_i H(softmax(z_i))`` over the ``Q`` queries' logits ``z_i``; since ``b_n``
    adds to every query's ``z_in``, ``-∂H̄/∂b_n = (1/Q) Σ_i p_in (log p_in + H_i)``. Going
    down the entropy moves ``b_n`` this way: up for the classes the queries lean to, down
    for the others; the pushes of an episode sum to 0. (Times λ for the entropy term.)
    """
    log_p = torch.log_softmax(query_logits, dim=-1)
    p = log_p.exp()
    each = -(p * log_p).sum(dim=-1, keepdim=True)  # H_i, [..., Q, 1]
    return (p * (log_p + each)).mean(dim=-2)


@dataclass
class FineTuningTrace:
    """Fine-tuning followed step by step (:func:`trace_fine_tuning`); each field is
    ``[steps + 1, E]`` and row ``t`` describes the classifier after ``t`` Adam steps.

    * ``step_size``: mean ``|θ_t - θ_{t-1}|`` over the numbers of ``W`` and ``b`` (row 0: 0);
    * ``gradient_size``: mean ``|g|`` over the same numbers, the gradient of the loss at row
      ``t``'s classifier (the one the next step uses);
    * ``weight_length``: mean ``|w_n|`` (1 at the ``W = M`` start);
    * ``top_share``: % of the episode's queries predicted as its most-predicted class;
    * ``pulled``: % of the queries whose entropy gradient raises that class's logit
      (``p_i,top > e^{-H_i}``, see the module docstring);
    * ``entropy_push``: ``λ · (-∂H̄/∂b_top)``, the entropy term's push on that class's bias;
    * ``support_push``: ``-∂L_CE/∂b_top``, the support loss's push on the same bias;
    * ``query_entropy``: the mean query entropy ``H̄`` (nats);
    * ``query_accuracy``: % of queries right (``None`` without query labels).
    """

    step_size: torch.Tensor
    gradient_size: torch.Tensor
    weight_length: torch.Tensor
    top_share: torch.Tensor
    pulled: torch.Tensor
    entropy_push: torch.Tensor
    support_push: torch.Tensor
    query_entropy: torch.Tensor
    query_accuracy: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None


def _batched(support, queries, query_labels):
    if support.dim() == 3:
        support, queries = support.unsqueeze(0), queries.unsqueeze(0)
        query_labels = None if query_labels is None else query_labels.unsqueeze(0)
    if support.dim() != 4 or queries.dim() != 3 or queries.shape[0] != support.shape[0]:
        raise ValueError(
            "support must be [E, N, K, d] and queries [E, Q, d] (or [N, K, d] and [Q, d]), "
            f"got {tuple(support.shape)} and {tuple(queries.shape)}"
        )
    return support, queries, query_labels


def trace_fine_tuning(
    support: torch.Tensor,
    queries: torch.Tensor,
    method: FineTuning,
    query_labels: torch.Tensor | None = None,
    seed: int = 0,
    episode_index: torch.Tensor | None = None,
) -> FineTuningTrace:
    """Fine-tune as :func:`~fewshot_utils.fewshot.fine_tuning.fine_tune` does, with Adam
    written out (:func:`adam_step`), and record what each step did (:class:`FineTuningTrace`).

    ``support [E, N, K, d]``, ``queries [E, Q, d]`` (or one episode, ``[N, K, d]`` and
    ``[Q, d]``), ``query_labels [E, Q]`` only to score; ``seed`` and ``episode_index``: a
    random start's, as for ``fine_tune``. The loss is fine-tuning's,
    ``L = Σ_e [L_CE(e) + λ H̄(e)]``, its gradient by autograd; the classifier it ends with
    is ``fine_tune``'s (``tests/test_collapse.py``), kept in ``weight`` and ``bias``.
    A slow path, one small tensor operation at a time: for a few hundred episodes, not
    thousands.
    """
    support, queries, query_labels = _batched(support, queries, query_labels)
    episodes, ways, shots, dim = support.shape
    support_t = l2_normalize(support.detach()).reshape(episodes, ways * shots, dim)
    query_t = l2_normalize(queries.detach())
    labels = torch.arange(ways, device=support.device).repeat_interleave(shots)
    labels = labels.expand(episodes, -1)
    if method.init == "prototypes":
        W = prototypes(support.detach()).clone()
        b = torch.zeros(episodes, ways, dtype=support.dtype, device=support.device)
    else:
        W, b = random_init(episodes, ways, dim, seed, episode_index)
        W, b = W.to(support), b.to(support)
    parameters = [W, b]
    if method.learn_scale:
        parameters.append(torch.full((episodes,), math.log(method.scale)).to(support))
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in parameters]
    rows: dict[str, list[torch.Tensor]] = {}
    step = torch.zeros(episodes, dtype=support.dtype, device=support.device)
    for t in range(method.steps + 1):
        for parameter in parameters:
            parameter.requires_grad_(True)
        with torch.enable_grad():
            scale = parameters[2].exp() if method.learn_scale else method.scale
            weight = effective_weight(W, method.classifier, scale)
            support_logits = softmax_logits(weight, b, support_t)  # [E, NK, N]
            query_logits = softmax_logits(weight, b, query_t)  # [E, Q, N]
            support_loss = method.support_loss(support_logits.transpose(1, 2), labels)
            log_p = torch.log_softmax(query_logits, dim=-1)
            query_entropy = -(log_p.exp() * log_p).sum(dim=-1).mean(dim=1)  # [E]
            loss = support_loss.sum() + method.entropy_weight * query_entropy.sum()
            gradients = torch.autograd.grad(loss, parameters, retain_graph=True)
            (support_bias,) = torch.autograd.grad(support_loss.sum(), b)
        for parameter in parameters:
            parameter.requires_grad_(False)
        measured = _measure(query_logits.detach(), method.entropy_weight, query_labels)
        measured["step_size"] = step
        measured["gradient_size"] = _mean_abs(gradients[:2])
        measured["weight_length"] = W.norm(dim=-1).mean(dim=1)
        measured["support_push"] = -support_bias.gather(1, measured.pop("top")).squeeze(1)
        for name, value in measured.items():
            rows.setdefault(name, []).append(value.detach())
        if t == method.steps:
            break
        steps = [
            adam_step(p, g, m, v, t + 1, method.lr)
            for p, g, (m, v) in zip(parameters, gradients, moments, strict=True)
        ]
        step = _mean_abs(steps[:2])
    traced = {name: torch.stack(values).cpu() for name, values in rows.items()}
    return FineTuningTrace(**traced, weight=W.detach(), bias=b.detach())


def _measure(
    query_logits: torch.Tensor, entropy_weight: float, query_labels: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """The query side of one row of a :class:`FineTuningTrace`, from ``query_logits [E, Q,
    N]``; ``"top"``: each episode's most-predicted class, ``int64 [E, 1]``."""
    episodes, count, ways = query_logits.shape
    predicted = query_logits.argmax(dim=-1)  # [E, Q]
    votes = torch.zeros(episodes, ways, dtype=query_logits.dtype, device=query_logits.device)
    votes.scatter_add_(1, predicted, torch.ones_like(votes[:, :1]).expand(-1, count))
    top = votes.argmax(dim=1, keepdim=True)  # [E, 1]
    log_p = torch.log_softmax(query_logits, dim=-1)
    each = -(log_p.exp() * log_p).sum(dim=-1)  # H_i, [E, Q]
    top_log_p = log_p.gather(2, top.unsqueeze(1).expand(-1, count, 1)).squeeze(2)  # [E, Q]
    measured = {
        "top": top,
        "top_share": 100.0 * votes.max(dim=1).values / count,
        "pulled": 100.0 * (top_log_p > -each).to(query_logits.dtype).mean(dim=1),
        "entropy_push": entropy_weight * entropy_push(query_logits).gather(1, top).squeeze(1),
        "query_entropy": each.mean(dim=1),
    }
    if query_labels is not None:
        right = predicted == query_labels.to(predicted.device)
        measured["query_accuracy"] = 100.0 * right.to(query_logits.dtype).mean(dim=1)
    return measured


def _mean_abs(tensors) -> torch.Tensor:
    """Mean ``|x|`` per episode over the numbers of ``W [E, N, d]`` and ``b [E, N]``: ``[E]``."""
    flat = torch.cat([t.detach().flatten(1) for t in tensors], dim=1)
    return flat.abs().mean(dim=1)
