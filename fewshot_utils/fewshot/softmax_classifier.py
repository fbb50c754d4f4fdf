"""The classifier that fine-tuning learns: ``p = softmax(W q̂ + b)``, linear or cosine.

Its logits, for normalised features ``q̂`` (:func:`softmax_logits` of
:func:`effective_weight`):

* linear: ``z_n = w_n · q̂ + b_n``;
* cosine (trick 3): ``z_n = s · cos(w_n, q) + b_n``, i.e. the weights are normalised too
  and scaled by ``s`` (the temperature), so no class can win by growing ``|w_n|``.

Fine-tuning (:mod:`fewshot_utils.fewshot.fine_tuning`) and classification compute the
logits with the same function; only the layout of the product differs (class-major while
fine-tuning, the faster layout for its many small steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fewshot_utils.fewshot.cosine_similarity import l2_normalize

CLASSIFIERS = ("linear", "cosine")


def effective_weight(
    W: torch.Tensor, classifier: str = "linear", scale: float | torch.Tensor = 10.0
) -> torch.Tensor:
    """The classifier's weights as they multiply ``q̂``: trick 3 lives here.

    * ``"linear"``: ``W`` itself (``scale`` is ignored);
    * ``"cosine"``: ``s · ŵ_n`` for every row, so the logit is ``s · cos(w_n, q)``;
      ``scale`` is a number or one ``s`` per episode, ``[E]``.

    ``W [E, N, d]`` (or ``[N, d]``) -> the same shape.
    """
    if classifier == "cosine":
        if isinstance(scale, torch.Tensor) and scale.dim() > 0:  # one s per episode
            scale = scale.view(-1, *([1] * (W.dim() - 1)))
        return scale * l2_normalize(W)
    if classifier != "linear":
        raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    return W


def softmax_logits(
    weight: torch.Tensor, b: torch.Tensor, unit_features: torch.Tensor, class_major: bool = False
) -> torch.Tensor:
    """``z_n = weight_n · q̂ + b_n`` for normalised features ``q̂``: the logits of the
    softmax classifier, used both while fine-tuning and to classify.

    ``weight [E, N, d]`` (from :func:`effective_weight`), ``b [E, N]`` and
    ``unit_features [E, Q, d] -> [E, Q, N]`` (or unbatched ``[N, d], [N], [Q, d] -> [Q, N]``).
    ``class_major=True``: the features come transposed, ``[E, d, R]``, and the logits go out
    ``[E, N, R]``, one ``baddbmm``: the faster layout for fine-tuning's many small steps.
    """
    if class_major:
        return torch.baddbmm(b.unsqueeze(2), weight, unit_features)
    return unit_features @ weight.transpose(-1, -2) + b.unsqueeze(-2)


def classifier_logits(
    W: torch.Tensor,
    b: torch.Tensor,
    queries: torch.Tensor,
    classifier: str = "linear",
    scale: float | torch.Tensor = 10.0,
) -> torch.Tensor:
    """The logits of a (fine-tuned) classifier for raw query features: ``z_n = w_n·q̂ + b_n``
    (``"linear"``) or ``s · cos(w_n, q) + b_n`` (``"cosine"``, see :func:`effective_weight`).

    ``W [E, N, d], b [E, N], queries [E, Q, d] -> [E, Q, N]`` (or unbatched
    ``[N, d], [N], [Q, d] -> [Q, N]``); queries are normalised first (``q̂``).
    """
    weight = effective_weight(W, classifier, scale)
    return softmax_logits(weight, b, l2_normalize(queries))


@dataclass
class FineTuningHistory:
    """What happened during fine-tuning, per step and per episode, for plots.

    Each field is ``[steps + 1, E]``: row ``t`` is the classifier after ``t`` Adam
    steps (row 0 is the initial classifier). Average over dimension 1 for the
    mean over episodes.

    * ``support_loss``: the support cross-entropy ``L_CE`` (nats);
    * ``query_entropy``: the mean prediction entropy over the queries (nats);
    * ``query_accuracy``: % of queries right (``None`` without query labels);
    * ``predictions``: ``int64 [E, Q]``, each query's class after the last step (kept by
      :func:`fewshot_utils.fewshot.inspection.record_fine_tuning`, else ``None``).
    """

    support_loss: torch.Tensor
    query_entropy: torch.Tensor
    query_accuracy: torch.Tensor | None = None
    predictions: torch.Tensor | None = None


@dataclass
class FineTunedClassifier:
    """The result of :func:`fine_tune`: ``softmax`` of :func:`classifier_logits` with these."""

    weight: torch.Tensor
    bias: torch.Tensor
    classifier: str
    scale: float | torch.Tensor
    history: FineTuningHistory | None = None

    def logits(self, queries: torch.Tensor) -> torch.Tensor:
        """``[E, Q, d] -> [E, Q, N]`` (or unbatched ``[Q, d] -> [Q, N]``)."""
        return classifier_logits(self.weight, self.bias, queries, self.classifier, self.scale)

    def probabilities(self, queries: torch.Tensor) -> torch.Tensor:
        return self.logits(queries).softmax(dim=-1)

    def predict(self, queries: torch.Tensor) -> torch.Tensor:
        return self.logits(queries).argmax(dim=-1)
