"""The few-shot probe: fixed seeded episodes on novel classes, prototype accuracy, history keys."""

import torch

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.fewshot.probe import FewShotProbe, preprocessing_for, probe_key
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.training.supervised import PretrainingConfig, PretrainingModel, pretrain
from tests.test_pretraining import tiny_split


class PixelFeatures(torch.nn.Module):
    """A 'backbone' whose features are the pixels: perfect on the bar classes of tiny_split."""

    feature_dim = 28 * 28

    def forward(self, x):
        return x.flatten(1)


def test_probe_key_names_the_setting():
    assert probe_key(5, 1) == "fewshot_5way_1shot"


def test_probe_keeps_a_seeded_subset_of_classes():
    split = tiny_split(classes=6, per_class=20)
    probe = FewShotProbe(split, Preprocessing(), ways=3, episodes=40, classes=4, seed=1)
    assert len(probe.images) == 4 * 20 and int(probe.labels.max()) == 3
    again = FewShotProbe(split, Preprocessing(), ways=3, episodes=40, classes=4, seed=1)
    assert torch.equal(probe.images, again.images)
    assert torch.equal(probe.episodes.query, again.episodes.query)
    assert probe.episodes.num_episodes == 40 and probe.episodes.ways == 3
    assert "3-way 1-shot" in repr(probe)


def test_probe_measures_prototype_accuracy_of_a_backbone_or_a_model_with_one():
    split = tiny_split(classes=6, per_class=20)
    probe = FewShotProbe(split, Preprocessing(), ways=5, episodes=30, classes=None)
    perfect = probe(PixelFeatures())
    assert perfect == {"fewshot_5way_1shot": 100.0, "fewshot_5way_1shot_ci95": 0.0}

    model = PretrainingModel(num_classes=6)
    model.train()
    row = probe(model, {"epoch": 1})
    assert set(row) == {"fewshot_5way_1shot", "fewshot_5way_1shot_ci95"}
    assert 0.0 <= row["fewshot_5way_1shot"] <= 100.0
    assert model.training  # the probe leaves the model in the mode it found it in
    assert torch.allclose(probe.features(model), probe.features(model.backbone))


def test_probe_plugs_into_pretraining_and_matches_its_preprocessing():
    split = tiny_split(classes=6, per_class=10)
    config = PretrainingConfig(epochs=2, batch_size=16, validation_per_class=2, augment=False)
    preprocessing = preprocessing_for(split, config)
    probe = FewShotProbe(split, preprocessing, ways=3, queries=5, episodes=20, classes=None)
    result = pretrain(split, config, progress=False, after_epoch=probe)
    assert result.preprocessing == preprocessing
    assert all("fewshot_3way_1shot" in row for row in result.history)


def test_probe_on_a_conv4_is_deterministic():
    split = tiny_split(classes=6, per_class=20)
    torch.manual_seed(0)
    backbone = Conv4().eval()
    probe = FewShotProbe(split, Preprocessing(mean=0.1, std=0.3), ways=4, episodes=25)
    assert probe(backbone) == probe(backbone)


def test_probe_refuses_fewer_classes_than_ways():
    split = tiny_split(classes=6, per_class=20)
    try:
        FewShotProbe(split, Preprocessing(), ways=5, classes=3)
    except ValueError as error:
        assert "at least 5 classes" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected a ValueError")


def test_probe_accepts_any_split():
    images = torch.zeros(12, 28, 28, dtype=torch.uint8)
    split = FewShotSplit(
        "t",
        "evaluation",
        images,
        torch.arange(3).repeat_interleave(4),
        ["a/1", "a/2", "b/1"],
        ["a", "a", "b"],
    )
    probe = FewShotProbe(split, Preprocessing(), ways=2, queries=3, episodes=5)
    assert probe.episodes.queries == 3
