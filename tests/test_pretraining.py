"""Conv4, pretraining, checkpoints: shapes, learning, round trips, clear errors."""

import math

import pytest
import torch

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.models.checkpoints import load_backbone, save_checkpoint
from fewshot_utils.models.conv4 import Conv4, Preprocessing, embed
from fewshot_utils.storage import CorruptFileError
from fewshot_utils.training.augmentation import random_affine, rotations_as_classes
from fewshot_utils.training.loop import start_run, train_validation_split
from fewshot_utils.training.supervised import PretrainingConfig, SupervisedTask, pretrain


def tiny_split(classes: int = 6, per_class: int = 10, size: int = 28) -> FewShotSplit:
    """Classes that differ by where a bright bar sits: easy to learn in a few steps."""
    generator = torch.Generator().manual_seed(0)
    images, labels = [], []
    for c in range(classes):
        for _ in range(per_class):
            image = (torch.rand(size, size, generator=generator) * 40).to(torch.uint8)
            row = 3 + 4 * c
            image[row : row + 3, 4:24] = 255
            images.append(image)
            labels.append(c)
    return FewShotSplit(
        "toy",
        "background",
        torch.stack(images),
        torch.tensor(labels),
        [f"Toy/character{c:02d}" for c in range(classes)],
        ["Toy"] * classes,
    )


def test_conv4_gives_64_d_features_for_28x28():
    backbone = Conv4()
    assert backbone(torch.zeros(3, 1, 28, 28)).shape == (3, 64)
    assert backbone.feature_dim == 64
    # Four blocks of conv, BatchNorm, ReLU, max-pool.
    assert len(backbone.blocks) == 4
    assert [type(m).__name__ for m in backbone.blocks[0]] == [
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "MaxPool2d",
    ]


def test_embed_matches_a_direct_forward_pass():
    backbone, preprocessing = Conv4().eval(), Preprocessing(mean=0.1, std=0.3)
    images = tiny_split().images[:7]
    with torch.no_grad():
        direct = backbone(preprocessing.to_input(images))
    assert torch.allclose(embed(backbone, images, preprocessing, batch_size=3), direct, atol=1e-5)


def test_train_validation_split_holds_out_per_class():
    labels = torch.arange(5).repeat_interleave(20)
    train, validation = train_validation_split(labels, 4, seed=0)
    assert torch.equal(torch.bincount(labels[validation]), torch.full((5,), 4))
    assert len(set(train.tolist()) & set(validation.tolist())) == 0
    assert len(train) + len(validation) == 100
    with pytest.raises(ValueError, match="validation_per_class"):
        train_validation_split(labels, 20)


def test_random_affine_keeps_shape_and_varies_per_image():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    out = random_affine(x, torch.Generator().manual_seed(0), rotation=20, shift=3)
    assert out.shape == x.shape
    assert not torch.allclose(out[0], out[1])
    # Light warps keep most of the ink.
    assert (out.sum() / x.sum()).item() == pytest.approx(1.0, abs=0.2)


def test_short_pretraining_lowers_the_loss_and_records_history():
    split = tiny_split()
    config = PretrainingConfig(epochs=4, batch_size=16, lr=1e-2, validation_per_class=2)
    result = pretrain(split, config, progress=False)
    losses = [row["loss"] for row in result.history]
    assert len(result.history) == 4
    assert losses[-1] < losses[0]
    assert set(result.history[0]) >= {
        "epoch",
        "loss",
        "train_accuracy",
        "validation_accuracy",
        "lr",
        "seconds",
    }
    assert result.history[-1]["validation_accuracy"] > 100 / 6  # better than chance
    assert result.backbone is result.model.backbone


def test_rotations_as_classes_turns_each_class_into_four():
    images = torch.zeros(2, 5, 5, dtype=torch.uint8)
    images[:, 0, 4] = 255  # the top-right corner
    turned, labels = rotations_as_classes(images, torch.tensor([0, 1]), num_classes=2)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]  # class c turned k x 90 degrees: c + 2k
    lit = [tuple(torch.nonzero(image).flatten().tolist()) for image in turned[::2]]
    # Counter-clockwise on screen (rows grow downwards): top-right, top-left, ...
    assert lit == [(0, 4), (0, 0), (4, 0), (4, 4)]


def test_pretraining_with_rotations_as_classes_learns_4c_classes():
    split = tiny_split(classes=3, per_class=8)
    config = PretrainingConfig(
        epochs=3, batch_size=16, lr=1e-2, validation_per_class=2, rotations_as_classes=True
    )
    _, train_index, validation_index, preprocessing = start_run(split, config)
    task = SupervisedTask(split, config, train_index, validation_index, preprocessing)
    # An epoch sees every training drawing in four turns: 3 classes x 6 drawings x 4.
    assert len(task.images) == 72 and task.steps_per_epoch == math.ceil(72 / 16)
    assert sorted(set(task.validation_labels.tolist())) == list(range(12))
    result = pretrain(split, config, progress=False)
    assert result.model.head.out_features == 12
    assert result.history[-1]["validation_accuracy"] > 100 / 12  # 12-way, above chance
    assert result.backbone(torch.zeros(1, 1, 28, 28)).shape == (1, 64)


def test_after_epoch_adds_to_the_history():
    config = PretrainingConfig(epochs=2, batch_size=32, validation_per_class=2)
    result = pretrain(tiny_split(), config, progress=False, after_epoch=lambda m, r: {"probe": 1.5})
    assert [row["probe"] for row in result.history] == [1.5, 1.5]


def test_checkpoint_round_trip(tmp_path):
    backbone = Conv4()
    for parameter in backbone.parameters():
        torch.nn.init.normal_(parameter)
    preprocessing = Preprocessing(mean=0.08, std=0.27)
    history = [{"epoch": 1, "loss": 2.5}]
    path = save_checkpoint(tmp_path / "c.pt", backbone, preprocessing, history, {"seed": 3})
    loaded = load_backbone(path)
    assert loaded.preprocessing == preprocessing
    assert loaded.history == history and loaded.meta == {"seed": 3}
    assert not loaded.backbone.training
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded.backbone(x), backbone.eval()(x))
    # Written with plain tensors: weights_only loading works.
    assert isinstance(torch.load(path, weights_only=True), dict)


def test_corrupt_or_foreign_checkpoint_gives_clear_error(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CorruptFileError, match="not a readable fewshot-checkpoint file"):
        load_backbone(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CorruptFileError, match="not a fewshot-checkpoint file"):
        load_backbone(foreign)
    with pytest.raises(FileNotFoundError, match="no fewshot-checkpoint file"):
        load_backbone(tmp_path / "missing.pt")


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", Conv4(), Preprocessing())
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CorruptFileError, match="delete it and create it again"):
        load_backbone(path)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from fewshot_utils import storage

    path = save_checkpoint(tmp_path / "c.pt", Conv4(), Preprocessing(), [{"epoch": 1}])
    before = path.read_bytes()

    def failing_save(obj, file):
        file.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, Conv4(), Preprocessing(), [{"epoch": 2}])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
