"""Cosine similarity: how alike two feature vectors point, whatever their lengths.

For two vectors ``a, b`` of ``d`` numbers,

    cos(a, b) = a·b / (|a| |b|)  =  â·b̂,   where  x̂ = x / |x|  (a unit vector).

It lies in ``[-1, 1]``: 1 for vectors pointing the same way, 0 for orthogonal
ones, -1 for opposite ones. Scaling either vector by a positive number does not
change it, which is why features are *normalised* (``x -> x̂``) before they are
compared: how strongly an image activates the network (``|f(x)|``) should not
decide which class it belongs to, only the direction of ``f(x)`` should.

Three functions, from one pair to all pairs:

* :func:`l2_normalize`: ``x̂ = x / |x|`` along the last dimension;
* :func:`cosine_similarity`: ``cos(a, b)`` of matching rows, ``[..., d], [..., d] -> [...]``;
* :func:`cosine_similarity_matrix`: every row of ``a`` against every row of ``b``,
  ``[n, d], [m, d] -> [n, m]`` (or batched ``[E, n, d], [E, m, d] -> [E, n, m]``),
  computed as one matrix product ``Â B̂ᵀ``.
"""

from __future__ import annotations

import torch

#: Lengths below this count as zero: a zero vector stays zero instead of becoming NaN.
EPS = 1e-12


def l2_normalize(x: torch.Tensor, dim: int = -1, eps: float = EPS) -> torch.Tensor:
    """``x̂ = x / |x|``: scale each vector along ``dim`` to length 1.

    ``|x| = sqrt(sum_i x_i²)`` is the Euclidean (L2) length. Shape is kept:
    ``[..., d] -> [..., d]``. A zero vector (``|x| < eps``) is returned as zeros.
    """
    return x / x.norm(dim=dim, keepdim=True).clamp_min(eps)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``cos(a, b) = a·b / (|a| |b|)`` of matching rows: ``[..., d], [..., d] -> [...]``.

    The leading dimensions broadcast as in any torch operation, so one vector
    ``[d]`` against many ``[n, d]`` gives ``[n]``.
    """
    return (l2_normalize(a, eps=eps) * l2_normalize(b, eps=eps)).sum(dim=-1)


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """All pairs: ``S[i, j] = cos(a_i, b_j)``, i.e. ``S = Â B̂ᵀ`` with rows normalised.

    Shapes: ``a [n, d], b [m, d] -> S [n, m]``; batched (one matrix per episode)
    ``a [E, n, d], b [E, m, d] -> S [E, n, m]``.
    """
    if a.dim() < 2 or b.dim() < 2:
        raise ValueError(
            f"cosine_similarity_matrix needs matrices of row vectors [n, d] and [m, d], got "
            f"shapes {tuple(a.shape)} and {tuple(b.shape)}; for two single vectors use "
            "cosine_similarity"
        )
    return l2_normalize(a, eps=eps) @ l2_normalize(b, eps=eps).transpose(-1, -2)
