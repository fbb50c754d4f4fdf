"""The one training loop: its schedule, and that supervised and Siamese pretraining share it."""

import pytest
import torch

from fewshot_utils.training import loop
from fewshot_utils.training.siamese import SiameseConfig, pretrain_siamese
from fewshot_utils.training.supervised import PretrainingConfig, pretrain


def toy_split(make_toy_split, classes=6, per_class=12):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = (torch.rand(len(labels), 28, 28, generator=generator) * 40).to(torch.uint8)
    for c in range(classes):  # a bright bar whose height tells the class
        images[labels == c, 3 + 4 * c : 6 + 4 * c, 4:24] = 255
    return make_toy_split(labels, images, split="background")


def test_the_one_cycle_schedule_steps_after_every_batch(toy_split_of):
    config = PretrainingConfig(epochs=4, batch_size=8, lr=1e-2, validation_per_class=2)
    history = pretrain(toy_split_of, config, progress=False).history
    rates = [row["lr"] for row in history]
    # Warm-up to the peak in the first 15% of the steps, then a cosine decay to ~0:
    # after the first epoch (25% of the steps) the rate is near its peak and falls from there.
    assert rates[0] > 0.5 * config.lr
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 4
    assert rates[-1] < 1e-2 * config.lr


def test_supervised_and_siamese_pretraining_run_through_the_same_loop(toy_split_of, monkeypatch):
    seen = []
    real = loop.train

    def recording(model, task, recipe, *arguments, **keywords):
        seen.append((type(task).__name__, recipe.epochs, recipe.lr))
        return real(model, task, recipe, *arguments, **keywords)

    monkeypatch.setattr("fewshot_utils.training.supervised.train", recording)
    monkeypatch.setattr("fewshot_utils.training.siamese.train", recording)
    pretrain(
        toy_split_of, PretrainingConfig(epochs=1, batch_size=16, validation_per_class=2), False
    )
    pretrain_siamese(
        toy_split_of, SiameseConfig(epochs=1, batch_size=8, validation_per_class=2), False
    )
    assert seen == [("SupervisedTask", 1, 3e-3), ("SiameseTask", 1, 3e-3)]


@pytest.fixture
def toy_split_of():
    from conftest import make_toy_split

    return toy_split(make_toy_split)
