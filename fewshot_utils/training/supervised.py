"""Supervised pretraining on the base classes: step 1 of the method.

Train Conv4 + a linear head to classify the ``C`` base classes (964 for
Omniglot) with cross-entropy. The head's accuracy on held-out drawings of the
same classes (*validation accuracy*) measures how good the features are; after
training the head is dropped and f(x) is kept.

Everything runs on in-memory tensors: a batch is ``images[index]``, warped by
:func:`~fewshot_utils.training.augmentation.random_affine`, through the course's one
training loop (:func:`fewshot_utils.training.loop.train`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.devices import as_device, module_device
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.training.augmentation import rotations_as_classes
from fewshot_utils.training.checks import check_recipe
from fewshot_utils.training.loop import (
    SplitTask,
    TrainingRecipe,
    TrainingResult,
    start_run,
    train,
)
from fewshot_utils.training.resume import epoch_checkpoints
from fewshot_utils.validation import Rule, check, check_flag, check_number


class PretrainingModel(nn.Module):
    """Backbone + linear head over the base classes: logits = head(f(x)), ``[B, C]``."""

    def __init__(self, num_classes: int, channels: int = 64) -> None:
        super().__init__()
        self.backbone = Conv4(channels)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


@dataclass
class PretrainingConfig(TrainingRecipe):
    """Settings of supervised pretraining: the :class:`~fewshot_utils.training.loop.TrainingRecipe`,
    plus batches of ``batch_size`` images and cross-entropy with ``label_smoothing``.

    ``label_smoothing`` is off: it raised the base classes' validation accuracy but
    lowered few-shot accuracy on the novel classes (the README's pretraining figures):
    smoothed targets pull each class's features into a tight cluster, which suits the
    base classes and transfers worse (Kornblith et al. 2021).

    ``rotations_as_classes``: pretrain on ``4C`` classes, each class also turned by 90, 180
    and 270 degrees (:func:`~fewshot_utils.training.augmentation.rotations_as_classes`); an
    epoch then has four times the images and steps, and the validation accuracy is
    ``4C``-way (the held-out drawings in all four turns). The shipped backbone uses it
    (``data/README.md``).
    """

    batch_size: int = 128
    label_smoothing: float = 0.0
    rotations_as_classes: bool = False

    def __post_init__(self) -> None:
        """Check every field when the config is made (:mod:`~fewshot_utils.training.checks`)."""
        getattr(super(), "__post_init__", lambda: None)()
        check_recipe(self)
        check_flag(self.rotations_as_classes, "rotations_as_classes")
        self.batch_size = check("batch_size", self.batch_size)
        self.label_smoothing = check_number(
            self.label_smoothing, "label_smoothing", Rule(least=0, most=0.99, hint="0 is off")
        )


@dataclass
class PretrainingResult(TrainingResult):
    """What supervised pretraining gives: a :class:`~fewshot_utils.training.loop.TrainingResult`
    (model = backbone + linear head), and the base classes' names."""

    class_names: list[str] = field(default_factory=list)


@torch.no_grad()
def accuracy(
    model: PretrainingModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    preprocessing: Preprocessing,
    batch_size: int = 128,
) -> float:
    """Classification accuracy (%) of the pretraining model on ``uint8 [I, H, W]`` images
    (anywhere: each batch is moved to the model's device)."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    correct = 0
    for start in range(0, len(images), batch_size):
        x = preprocessing.to_input(images[start : start + batch_size].to(device))
        x = x.contiguous(memory_format=torch.channels_last)
        right = model(x).argmax(1) == labels[start : start + batch_size].to(device)
        correct += right.sum().item()
    model.train(was_training)
    return 100.0 * correct / max(len(images), 1)


class SupervisedTask(SplitTask):
    """Supervised pretraining as a :class:`~fewshot_utils.training.loop.TrainingTask`:
    batches of ``batch_size`` training images in a fresh random order each epoch, each
    warped, and cross-entropy over the ``C`` base classes. The images stay on the CPU;
    each batch is moved to ``device``, the model's."""

    description = "pretraining"

    def __init__(self, split: FewShotSplit, config: PretrainingConfig, *args, **kwargs) -> None:
        super().__init__(split, config, *args, **kwargs)
        self.num_classes = split.num_classes
        if config.rotations_as_classes:
            classes = split.num_classes
            self.images, self.labels = rotations_as_classes(self.images, self.labels, classes)
            self.validation_images, self.validation_labels = rotations_as_classes(
                self.validation_images, self.validation_labels, classes
            )
            self.num_classes = 4 * classes

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    def epoch_batches(self, generator: torch.Generator):
        order = torch.randperm(len(self.images), generator=generator)
        size = self.config.batch_size
        for step in range(self.steps_per_epoch):
            yield order[step * size : (step + 1) * size]

    def loss(
        self, model, batch: torch.Tensor, generator: torch.Generator, part: slice = slice(None)
    ):
        # The warps are drawn for the whole batch, so that every process draws the same.
        theta = self.config.warps(self.images[batch], generator)
        batch = batch[part]
        theta = None if theta is None else theta[part]
        x = self.config.prepare(self.images[batch], self.preprocessing, theta, self.device)
        y = self.labels[batch].to(self.device)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
        return loss, int((logits.argmax(1) == y).sum().item()), len(batch)

    def validation_accuracy(self, model) -> float:
        if not len(self.validation_labels):
            return float("nan")
        return accuracy(model, self.validation_images, self.validation_labels, self.preprocessing)


def pretrain(
    split: FewShotSplit,
    config: PretrainingConfig | None = None,
    progress: bool = True,
    after_epoch: Callable[[PretrainingModel, dict], dict | None] | None = None,
    device: str | torch.device | None = None,
    epoch_checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> PretrainingResult:
    """Supervised pretraining of Conv4 + linear head on the classes of ``split``.

    ``after_epoch(model, row)`` (optional) is called after each epoch with the
    history row; a dict it returns is merged into the row (e.g. a few-shot probe).
    History rows: see :func:`fewshot_utils.training.loop.train`. ``device``: where to
    train (default :func:`fewshot_utils.devices.default_device`); the weights start from
    the seed on the CPU and are moved there, and the model stays there. Under ``torchrun``
    each process trains on its part of every batch (:mod:`fewshot_utils.training.distributed`).
    """
    config = config or PretrainingConfig()
    device = as_device(device)
    generator, train_index, validation_index, preprocessing = start_run(split, config)
    task = SupervisedTask(split, config, train_index, validation_index, preprocessing, device)
    checkpoints = epoch_checkpoints(epoch_checkpoint, resume)
    return train_a_new_model(
        task, split, config, generator, preprocessing, progress, after_epoch, checkpoints
    )


def train_a_new_model(
    task: SupervisedTask,
    split: FewShotSplit,
    config: PretrainingConfig,
    generator: torch.Generator,
    preprocessing,
    progress: bool = True,
    after_epoch=None,
    checkpoints=None,
) -> PretrainingResult:
    """A fresh Conv4 with a head over ``task.num_classes``, trained on ``task`` by the one
    training loop (:func:`~fewshot_utils.training.loop.train`): the body of :func:`pretrain`,
    for a task of the same kind with another loss (e.g. distillation, in ``benchmarks/``)."""
    model = PretrainingModel(task.num_classes, config.channels)
    model = model.to(task.device, memory_format=torch.channels_last)
    history = train(model, task, config, generator, progress, after_epoch, checkpoints=checkpoints)
    return PretrainingResult(
        model=model,
        preprocessing=preprocessing,
        history=history,
        config=config,
        class_names=list(split.class_names),
    )


def config_dict(config: TrainingRecipe) -> dict:
    """A pretraining config as a plain dict (for a checkpoint's ``meta``)."""
    return asdict(config)
