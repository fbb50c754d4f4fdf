"""Siamese pretraining: balanced seeded pairs, the twin network, a training loop that learns."""

import pytest
import torch

from fewshot_utils.models.conv4 import Preprocessing
from fewshot_utils.training.siamese import (
    CosineHead,
    Pairs,
    SiameseConfig,
    SiameseModel,
    WeightedL1Head,
    pair_accuracy,
    pair_labels,
    pretrain_siamese,
    sample_pairs,
)
from fewshot_utils.training.supervised import PretrainingConfig, pretrain
from tests.test_pretraining import tiny_split


def test_pairs_are_balanced_and_labelled_right():
    labels = torch.arange(7).repeat_interleave(5)
    pairs = sample_pairs(labels, 200, seed=3)
    assert isinstance(pairs, Pairs) and len(pairs) == 200
    assert pairs.first.dtype == pairs.second.dtype == torch.long
    assert pairs.same.dtype == torch.float32
    assert torch.equal(pairs.same, pair_labels(labels, pairs.first, pairs.second))
    assert int(pairs.same.sum()) == 100
    assert torch.equal(pairs.same[:100], torch.ones(100))
    # Positives are two different drawings of one class, negatives two classes.
    assert (pairs.first[:100] != pairs.second[:100]).all()
    assert (labels[pairs.first[100:]] != labels[pairs.second[100:]]).all()


def test_pairs_are_seeded_and_reach_every_image():
    labels = torch.arange(4).repeat_interleave(3)
    a, b = sample_pairs(labels, 500, seed=1), sample_pairs(labels, 500, seed=1)
    assert torch.equal(a.first, b.first) and torch.equal(a.second, b.second)
    assert not torch.equal(a.second, sample_pairs(labels, 500, seed=2).second)
    assert set(a.second.tolist()) == set(range(12))


def test_pairs_handle_missing_classes_and_fractions():
    labels = torch.tensor([0, 0, 5, 5, 5, 9, 9])  # classes 1-4, 6-8 have no images
    pairs = sample_pairs(labels, 60, seed=0, positive_fraction=0.25)
    assert int(pairs.same.sum()) == 15
    assert set(labels[pairs.second].tolist()) <= {0, 5, 9}


@pytest.mark.parametrize(
    "labels, kwargs, message",
    [
        (torch.zeros(5, dtype=torch.long), {}, "at least 2 classes"),
        (torch.tensor([0, 0, 1]), {}, "at least 2 images"),
        (torch.tensor([0, 0, 1, 1]), {"positive_fraction": 1.5}, "positive_fraction"),
        (torch.tensor([0, 0, 1, 1]), {"pairs": 0}, "pairs must be"),
    ],
)
def test_pairs_say_what_is_wrong(labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_pairs(labels, **{"pairs": 10, **kwargs})


def test_pairs_slice_together():
    pairs = sample_pairs(torch.arange(3).repeat_interleave(4), 10, seed=0)
    part = pairs[2:5]
    assert len(part) == 3 and torch.equal(part.first, pairs.first[2:5])


@pytest.mark.parametrize("head, kind", [("cosine", CosineHead), ("l1", WeightedL1Head)])
def test_siamese_model_gives_one_logit_per_pair_and_is_symmetric(head, kind):
    torch.manual_seed(0)
    model = SiameseModel(head=head).eval()
    assert isinstance(model.head, kind)
    a, b = torch.randn(5, 1, 28, 28), torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        ab, ba = model(a, b), model(b, a)
        fa, fb = model.backbone(a), model.backbone(b)
    assert ab.shape == (5,)
    assert torch.allclose(ab, ba, atol=1e-5)
    # The twins share f(x): the head sees exactly the backbone's features.
    assert torch.allclose(ab, model.pair_logits(fa, fb), atol=1e-5)


def test_cosine_head_starts_at_same_above_half():
    head = CosineHead(4)
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert head(x, x).item() == pytest.approx(5.0)  # cos 1 -> 10 * 1 - 5
    assert head(x, torch.tensor([[0.0, 1.0, 0.0, 0.0]])).item() == pytest.approx(-5.0)


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="unknown head"):
        SiameseModel(head="euclid")


def test_siamese_pretraining_learns_same_or_different_and_keeps_the_history_format():
    torch.manual_seed(0)
    split = tiny_split(classes=6, per_class=12)
    config = SiameseConfig(
        epochs=3,
        batch_size=16,
        pairs_per_epoch=64,
        validation_per_class=2,
        validation_pairs=40,
        augment=False,
        lr=1e-2,
        channels=16,
    )
    calls = []
    result = pretrain_siamese(
        split, config, progress=False, after_epoch=lambda m, row: calls.append(row) or {"x": 1}
    )
    supervised = pretrain(
        split,
        PretrainingConfig(epochs=1, batch_size=32, validation_per_class=2, channels=16),
        progress=False,
    )
    assert len(result.history) == 3 and len(calls) == 3
    assert set(supervised.history[0]) | {"x"} == set(result.history[0])
    assert result.history[-1]["validation_accuracy"] > 80.0  # chance is 50%
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.backbone is result.model.backbone
    assert result.backbone(torch.zeros(2, 1, 28, 28)).shape == (2, 16)
    assert not result.model.training
    # Same normalisation rule as supervised pretraining.
    assert result.preprocessing == supervised.preprocessing


def test_pair_accuracy_counts_the_sign_of_the_logit():
    class Fixed(torch.nn.Module):
        def forward(self, a, b):
            return torch.tensor([1.0, -1.0, 1.0, -1.0])

    pairs = Pairs(torch.arange(4), torch.arange(4), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    assert pair_accuracy(Fixed(), images, pairs, Preprocessing()) == 75.0
