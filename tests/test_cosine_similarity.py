"""Cosine similarity: cos = a·b / (|a| |b|), checked on numbers worked by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from fewshot_utils.fewshot.cosine_similarity import (
    cosine_similarity,
    cosine_similarity_matrix,
    l2_normalize,
)


def test_l2_normalize_gives_unit_vectors_and_keeps_zero_vectors():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    # |(3, 4)| = 5, so (3, 4) / 5 = (0.6, 0.8); the zero vector stays zero (no NaN).
    assert torch.allclose(l2_normalize(x), torch.tensor([[0.6, 0.8], [0.0, 0.0]]))


def test_cosine_similarity_by_hand():
    a = torch.tensor([1.0, 0.0])
    # (1, 0)·(1, 1) = 1, |(1, 1)| = √2  ->  1/√2
    assert cosine_similarity(a, torch.tensor([1.0, 1.0])).item() == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity(a, torch.tensor([-2.0, 0.0])).item() == pytest.approx(-1.0)
    assert cosine_similarity(a, torch.tensor([0.0, 5.0])).item() == pytest.approx(0.0)


def test_cosine_similarity_broadcasts_rows():
    many = torch.randn(7, 16)
    one = torch.randn(16)
    result = cosine_similarity(many, one)
    assert result.shape == (7,)
    assert torch.allclose(result, F.cosine_similarity(many, one.expand(7, 16), dim=-1), atol=1e-6)


def test_cosine_similarity_ignores_lengths():
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    assert torch.allclose(cosine_similarity(3.0 * a, 0.01 * b), cosine_similarity(a, b), atol=1e-6)


def test_matrix_holds_every_pair_and_works_batched():
    a, b = torch.randn(4, 10), torch.randn(6, 10)
    S = cosine_similarity_matrix(a, b)
    assert S.shape == (4, 6)
    for i in range(4):
        for j in range(6):
            assert S[i, j].item() == pytest.approx(cosine_similarity(a[i], b[j]).item(), abs=1e-6)
    batched = cosine_similarity_matrix(torch.stack([a, 2 * a]), torch.stack([b, b]))
    assert batched.shape == (2, 4, 6)
    assert torch.allclose(batched[0], S, atol=1e-6) and torch.allclose(batched[1], S, atol=1e-6)


def test_matrix_of_single_vectors_is_a_clear_error():
    with pytest.raises(ValueError, match="cosine_similarity_matrix needs matrices"):
        cosine_similarity_matrix(torch.randn(3), torch.randn(3))
