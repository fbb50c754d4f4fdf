"""The prototype classifier: nearest normalised class mean, i.e. softmax(W q̂ + b), W = M, b = 0."""

import math

import pytest
import torch

from fewshot_utils.fewshot.cosine_similarity import cosine_similarity
from fewshot_utils.fewshot.prototypes import (
    PrototypeClassifier,
    prototype_logits,
    prototype_probabilities,
    prototypes,
)
from fewshot_utils.fewshot.softmax_classifier import classifier_logits


def test_prototypes_by_hand():
    support = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 1.0]],  # class 0: mean of (1,0), (0,1) = (½, ½) -> (1/√2, 1/√2)
            [[2.0, 0.0], [30.0, 0.0]],  # class 1: lengths do not matter: (1, 0)
        ]
    )
    M = prototypes(support)
    r = 1 / math.sqrt(2)
    assert torch.allclose(M, torch.tensor([[r, r], [1.0, 0.0]]), atol=1e-6)


def test_prototypes_shapes_and_unit_rows():
    support = torch.randn(3, 5, 2, 8)  # E=3 episodes, N=5 ways, K=2 shots, d=8
    M = prototypes(support)
    assert M.shape == (3, 5, 8)
    assert torch.allclose(M.norm(dim=-1), torch.ones(3, 5), atol=1e-6)
    assert torch.allclose(prototypes(support[1]), M[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"support_features must be \[N, K, d\]"):
        prototypes(torch.randn(5, 8))


def test_prototype_classifier_is_the_nearest_normalised_class_mean():
    torch.manual_seed(0)
    support, queries = torch.randn(4, 5, 3, 16), torch.randn(4, 20, 16)
    predicted = PrototypeClassifier().fit(support).predict(queries)
    for e in range(4):
        means = torch.stack([(s / s.norm(dim=-1, keepdim=True)).mean(0) for s in support[e]])
        for i in range(20):
            nearest = cosine_similarity(means, queries[e, i]).argmax()
            assert predicted[e, i] == nearest


def test_probabilities_and_the_scale():
    support, queries = torch.randn(2, 5, 1, 8), torch.randn(2, 7, 8)
    M = prototypes(support)
    logits = prototype_logits(M, queries)
    assert logits.shape == (2, 7, 5)
    assert logits.abs().max() <= 1 + 1e-6  # s = 1: cosines, in [-1, 1]
    p = prototype_probabilities(M, queries)
    assert torch.allclose(p.sum(-1), torch.ones(2, 7))
    sharp = prototype_probabilities(M, queries, scale=10.0)
    assert torch.equal(sharp.argmax(-1), p.argmax(-1))  # the scale never changes the winner
    assert (sharp.max(-1).values >= p.max(-1).values - 1e-6).all()  # only the confidence


def test_it_is_a_softmax_classifier_with_w_equal_m_and_b_zero():
    support, queries = torch.randn(3, 5, 2, 8), torch.randn(3, 6, 8)
    classifier = PrototypeClassifier().fit(support)
    assert torch.equal(classifier.weight, prototypes(support))
    assert torch.equal(classifier.bias, torch.zeros(3, 5))
    linear = classifier_logits(classifier.weight, classifier.bias, queries, "linear")
    assert torch.allclose(linear, classifier.logits(queries), atol=1e-6)


def test_unfitted_classifier_and_mismatched_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="call fit"):
        PrototypeClassifier().predict(torch.randn(3, 8))
    with pytest.raises(ValueError, match="same feature size d"):
        prototype_logits(torch.randn(2, 5, 8), torch.randn(2, 3, 4))
