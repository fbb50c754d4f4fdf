"""Calibration: do a classifier's probabilities mean what they say?

A classifier is *calibrated* when, of the queries it gives confidence ``max_n p_n ≈ c``,
a fraction ``c`` is right. :func:`reliability` bins queries by their confidence and
compares each bin's mean confidence with its accuracy; the expected calibration error
is ``ECE = Σ_b (n_b / n) |acc_b - conf_b|`` (Guo et al. 2017). The cosine classifier's
scale s (trick 3) sets how confident its softmax can be (notebook 07);
:func:`fewshot_utils.viz.calibration.reliability_diagram` draws a :class:`Reliability`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Reliability:
    """Confidence against accuracy in ``B`` equal bins of ``[0, 1]``.

    ``lower``, ``upper``: the bins' edges ``[B]``; ``count``: queries per bin;
    ``confidence``: the bin's mean confidence ``max_n p_n``; ``accuracy``: the
    fraction of the bin's queries whose ``argmax`` is right (both ``nan`` for an
    empty bin); ``ece``: the expected calibration error ``Σ_b (n_b/n) |acc_b -
    conf_b|`` as a fraction (×100 for points); ``mean_confidence``,
    ``mean_accuracy``: over all queries.
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    mean_confidence: float
    mean_accuracy: float


def reliability(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> Reliability:
    """Bin queries by confidence and compare with accuracy (a reliability diagram's numbers).

    ``probabilities [..., N]`` (rows sum to 1) and ``labels int64 [...]``, e.g.
    ``[E, Q, N]`` and ``[E, Q]`` for all queries of ``E`` episodes. Confidence is
    ``max_n p_n``; bin ``b`` holds ``b/B <= confidence < (b+1)/B`` (the last bin
    includes 1). A calibrated classifier has ``accuracy ≈ confidence`` in every
    bin, and ``ECE = 0``.
    """
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a whole number >= 1, got {bins}")
    probabilities = torch.as_tensor(probabilities).detach().cpu().to(torch.float64)
    labels = torch.as_tensor(labels).cpu()
    if probabilities.shape[:-1] != labels.shape:
        raise ValueError(
            f"probabilities {tuple(probabilities.shape)} must be labels {tuple(labels.shape)} "
            "plus a last dimension of classes"
        )
    probabilities = probabilities.reshape(-1, probabilities.shape[-1])
    labels = labels.reshape(-1)
    if len(labels) == 0:
        raise ValueError("reliability needs at least one query")
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    index = (confidence * bins).long().clamp(0, bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    summed_confidence = torch.bincount(index, weights=confidence, minlength=bins)
    summed_correct = torch.bincount(index, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_confidence = (summed_confidence / count).numpy()
        bin_accuracy = (summed_correct / count).numpy()
    ece = float((summed_correct - summed_confidence).abs().sum() / len(labels))
    edges = np.linspace(0.0, 1.0, bins + 1)
    return Reliability(
        lower=edges[:-1],
        upper=edges[1:],
        count=count.numpy().astype(np.int64),
        confidence=bin_confidence,
        accuracy=bin_accuracy,
        ece=ece,
        mean_confidence=float(confidence.mean()),
        mean_accuracy=float(correct.mean()),
    )


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10
) -> float:
    """``ECE = Σ_b (n_b / n) |acc_b - conf_b|`` as a fraction (see :func:`reliability`)."""
    return reliability(probabilities, labels, bins).ece
