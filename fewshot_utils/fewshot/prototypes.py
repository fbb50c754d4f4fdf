"""The prototype classifier: one mean feature vector per class, no training at all.

Given the support set of an N-way K-shot episode (``K`` feature vectors for
each of ``N`` classes), the *prototype* of class ``n`` is the normalised mean of
its normalised support features:

    μ_n = (1/K) Σ_k  f̂(x_{n,k}),        m_n = μ_n / |μ_n|,        M = [m_1; ...; m_N]   (N x d)

A query with normalised feature ``q̂`` gets one logit per class, its cosine
similarity to each prototype, and the softmax turns logits into probabilities:

    p = softmax(s · M q̂),    p_n = exp(s m_n·q̂) / Σ_j exp(s m_j·q̂)

with scale ``s = 1`` in the lecture. This is exactly a softmax classifier
``softmax(W q̂ + b)`` with ``W = M`` and ``b = 0``: the starting point that trick 2
of fine-tuning reuses (:mod:`fewshot_utils.fewshot.fine_tuning`). The predicted class
is the nearest prototype, ``argmax_n m_n·q̂``; the scale ``s`` changes how
confident ``p`` is, never which class wins.

Everything is batched over episodes: ``E`` episodes' prototypes are one tensor
``M [E, N, d]`` and all their queries' logits one batched matrix product.
"""

from __future__ import annotations

import torch

from fewshot_utils.fewshot.classifier import FewShotMethod
from fewshot_utils.fewshot.cosine_similarity import l2_normalize


def prototypes(support_features: torch.Tensor) -> torch.Tensor:
    """``M``: the normalised mean of each class's normalised support features.

    ``support_features [E, N, K, d] -> M [E, N, d]`` (or unbatched
    ``[N, K, d] -> [N, d]``), where ``support_features[e, n, k]`` is shot ``k``
    of class ``n`` in episode ``e``. Every row of ``M`` has length 1.
    """
    if support_features.dim() not in (3, 4):
        raise ValueError(
            "support_features must be [N, K, d] (one episode) or [E, N, K, d] (E episodes), "
            f"got shape {tuple(support_features.shape)}"
        )
    return l2_normalize(l2_normalize(support_features).mean(dim=-2))


def prototype_logits(M: torch.Tensor, queries: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Logits ``s · M q̂`` of every query against every prototype.

    ``M [E, N, d]`` (rows of length 1, from :func:`prototypes`), ``queries
    [E, Q, d]`` (raw features; they are normalised here) ``-> [E, Q, N]``, where
    ``logits[e, i, n] = s · cos(m_n, q_i)``. Unbatched ``M [N, d], queries
    [Q, d] -> [Q, N]`` works too.
    """
    if M.dim() != queries.dim() or M.shape[-1] != queries.shape[-1]:
        raise ValueError(
            f"prototypes M {tuple(M.shape)} and queries {tuple(queries.shape)} must both be "
            "[E, ., d] (or both [., d]) with the same feature size d"
        )
    return scale * (l2_normalize(queries) @ M.transpose(-1, -2))


def prototype_probabilities(
    M: torch.Tensor, queries: torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """``p = softmax(s · M q̂)``: ``[E, Q, N]`` class probabilities, each row sums to 1."""
    return prototype_logits(M, queries, scale).softmax(dim=-1)


class PrototypeClassifier:
    """The prototype classifier as an object: ``fit`` on a support set, then classify queries.

    >>> classifier = PrototypeClassifier().fit(support_features)  # [E, N, K, d] or [N, K, d]
    >>> classifier.predict(query_features)                        # [E, Q] or [Q] class indices

    ``weight`` (``= M``) and ``bias`` (``= 0``) are the equivalent softmax
    classifier ``softmax(s · (W q̂ + b))``.
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.M: torch.Tensor | None = None

    def fit(self, support_features: torch.Tensor) -> PrototypeClassifier:
        """Compute ``M`` from support features ``[E, N, K, d]`` (or ``[N, K, d]``)."""
        self.M = prototypes(support_features)
        return self

    def _prototypes(self) -> torch.Tensor:
        if self.M is None:
            raise ValueError("this PrototypeClassifier has no prototypes: call fit(support) first")
        return self.M

    @property
    def weight(self) -> torch.Tensor:
        """``W = M``: ``[E, N, d]`` (or ``[N, d]``)."""
        return self._prototypes()

    @property
    def bias(self) -> torch.Tensor:
        """``b = 0``: ``[E, N]`` (or ``[N]``)."""
        M = self._prototypes()
        return torch.zeros(M.shape[:-1], dtype=M.dtype, device=M.device)

    def logits(self, queries: torch.Tensor) -> torch.Tensor:
        """``s · M q̂``: ``[E, Q, d] -> [E, Q, N]``."""
        return prototype_logits(self._prototypes(), queries, self.scale)

    def probabilities(self, queries: torch.Tensor) -> torch.Tensor:
        """``softmax(s · M q̂)``: ``[E, Q, d] -> [E, Q, N]``."""
        return self.logits(queries).softmax(dim=-1)

    def predict(self, queries: torch.Tensor) -> torch.Tensor:
        """The nearest prototype: ``argmax_n cos(m_n, q)``, ``[E, Q, d] -> int64 [E, Q]``."""
        return self.logits(queries).argmax(dim=-1)


class PrototypeMethod(FewShotMethod):
    """The prototype classifier as a method of the course: no training, ``W = M, b = 0``.

    ``fit(support)`` computes the prototypes ``M`` of each episode and returns a fitted
    :class:`PrototypeClassifier`, whose logits are ``s · M q̂`` (``scale`` s, 1 in the
    lecture). It never looks at the queries (``transductive = False``).
    """

    transductive = False

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.scale == self.scale

    def __hash__(self) -> int:
        return hash((type(self), self.scale))

    def __repr__(self) -> str:
        return f"PrototypeMethod(scale={self.scale:g})"

    def fit(self, support, queries=None, *, seed: int = 0, episode_index=None):
        return PrototypeClassifier(self.scale).fit(support)

    def fit_classes(self, per_class, queries=None, seed: int = 0):
        """Prototypes one class at a time: the classes may have different numbers of images."""
        classifier = PrototypeClassifier(self.scale)
        classifier.M = torch.cat([prototypes(features.unsqueeze(0)) for features in per_class])
        return classifier

    def describe(self) -> str:
        scale = "" if self.scale == 1 else f", s = {self.scale:g}"
        return f"no fine-tuning: W = M, b = 0{scale}"
