"""The one training loop of the course: supervised and Siamese pretraining both run through it.

What every way of pretraining Conv4 shares is here, so that notebook 02's race between
them is fair by construction, not by two copies kept in step:

* :class:`TrainingRecipe`: epochs, AdamW's learning rate and weight decay with a one-cycle
  schedule (warm-up, then cosine decay), the width of Conv4, the held-out validation
  drawings, the augmentation, the seed;
* :func:`train_validation_split`: which drawings of each class are held out;
* :func:`train`: the loop itself. Per epoch: a fresh order of batches, one AdamW step per
  batch, the validation accuracy, an optional ``after_epoch`` measurement (a few-shot
  probe), one history row.

What differs between supervised and Siamese pretraining is a :class:`TrainingTask`: the
batches of an epoch, the loss and the count of right answers of a batch, and the
validation accuracy (:mod:`fewshot_utils.training.supervised`,
:mod:`fewshot_utils.training.siamese`).

The same loop runs in one process or, under ``torchrun``, in several: each process then
computes its part of every batch and ``DistributedDataParallel`` averages the gradients
(:mod:`fewshot_utils.training.distributed` gives the rules, and how close the result
is to one process's). The model
trains on the device its weights are on; every random number comes from the CPU
``generator``, so a seed gives the same batches and warps on every device.

History rows: ``epoch, loss, train_accuracy, validation_accuracy, lr, seconds`` (accuracies
in %, ``train_accuracy`` on the augmented batches as they were seen) plus whatever
``after_epoch`` returns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.devices import as_device, module_device
from fewshot_utils.models.checkpoints import save_checkpoint
from fewshot_utils.models.conv4 import Conv4, Preprocessing, fit_preprocessing
from fewshot_utils.runtime import release_freed_memory
from fewshot_utils.training import distributed
from fewshot_utils.training.augmentation import random_theta, warp
from fewshot_utils.training.resume import EpochCheckpoints


@dataclass
class TrainingRecipe:
    """What every way of pretraining Conv4 in the course shares.

    ``epochs`` of AdamW (``lr``, ``weight_decay``) with a one-cycle schedule (warm-up
    then cosine decay); Conv4 with ``channels`` per layer; ``validation_per_class``
    drawings of every class are held out to measure accuracy; augmentation: rotation
    up to ``rotation`` degrees, scale in ``1 +- scale``, shift up to ``shift`` pixels,
    shear up to ``shear``; ``seed`` for the weights, the split and the batches.
    """

    epochs: int = 20
    lr: float = 3e-3
    weight_decay: float = 5e-4
    channels: int = 64
    validation_per_class: int = 4
    augment: bool = True
    rotation: float = 10.0
    scale: float = 0.1
    shift: float = 2.0
    shear: float = 0.1
    seed: int = 0

    def warps(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """``theta [B, 2, 3]``: a random warp for each of a whole batch's ``images [B, H, W]``
        (``None`` when ``augment`` is off), drawn from ``generator`` on the CPU."""
        if not self.augment:
            return None
        batch, height, width = images.shape
        return random_theta(
            batch, height, width, generator, self.rotation, self.scale, self.shift, self.shear
        )

    def prepare(
        self,
        images: torch.Tensor,
        preprocessing: Preprocessing,
        theta: torch.Tensor | None,
        device: torch.device,
    ) -> torch.Tensor:
        """Images as the network sees them while training: ``uint8 [B, H, W]`` ->
        ``float [B, 1, H, W]`` on ``device``, normalised, warped by ``theta`` (from
        :meth:`warps`; ``None``: as they are), channels-last."""
        x = preprocessing.to_input(images.to(device))
        if theta is not None:
            x = warp(x, theta)
        return x.contiguous(memory_format=torch.channels_last)


@dataclass
class TrainingResult:
    """What pretraining gives: the model (backbone + its head), preprocessing, history."""

    model: nn.Module
    preprocessing: Preprocessing
    history: list[dict] = field(default_factory=list)
    config: TrainingRecipe | None = None

    @property
    def backbone(self) -> Conv4:
        """f(x): the model with its head dropped."""
        return self.model.backbone

    def save(self, path: str | os.PathLike, meta: dict | None = None) -> Path:
        """Write f(x), its preprocessing, the history (and a linear head) to a checkpoint,
        atomically (:func:`fewshot_utils.models.checkpoints.save_checkpoint`); ``meta`` is
        added to the config."""
        meta = {"config": asdict(self.config), **(meta or {})} if self.config else meta
        head = getattr(self.model, "head", None)
        head = head if isinstance(head, nn.Linear) else None
        return save_checkpoint(path, self.backbone, self.preprocessing, self.history, meta, head)


def start_run(
    split: FewShotSplit, recipe: TrainingRecipe
) -> tuple[torch.Generator, torch.Tensor, torch.Tensor, Preprocessing]:
    """What every pretraining does first: check every class can keep a drawing for
    training, seed torch (the weights' start), make the run's generator, hold out the
    validation drawings and fit the input normalisation on the rest.

    Returns ``(generator, train_index, validation_index, preprocessing)``.
    """
    if recipe.validation_per_class > 0:
        split.require_images_per_class(
            recipe.validation_per_class + 1,
            f"holding out {recipe.validation_per_class} validation images per class "
            "(validation_per_class, --validation-per-class) and training on at least one",
        )
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    train_index, validation_index = train_validation_split(
        split.labels, recipe.validation_per_class, recipe.seed
    )
    return generator, train_index, validation_index, fit_preprocessing(split.images[train_index])


def train_validation_split(
    labels: torch.Tensor, validation_per_class: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, validation)``: ``validation_per_class`` random drawings of each class
    are held out. Raises ``ValueError`` if a class has too few images to keep one for training."""
    counts = torch.bincount(labels)
    if validation_per_class > 0 and int(counts[counts > 0].min()) <= validation_per_class:
        raise ValueError(
            f"holding out {validation_per_class} images per class leaves none for training in a "
            f"class of {int(counts[counts > 0].min())} images: lower validation_per_class"
        )
    generator = torch.Generator().manual_seed(seed)
    keys = torch.rand(len(labels), generator=generator)
    # Rank images inside their class by a random key; the first ones are held out.
    order = torch.argsort(labels * 2.0 + keys, stable=True)
    rank = torch.empty_like(labels)
    start = torch.cumsum(counts, 0) - counts
    rank[order] = torch.arange(len(labels)) - start[labels[order]]
    validation = rank < validation_per_class
    return torch.nonzero(~validation).flatten(), torch.nonzero(validation).flatten()


class SplitTask:
    """What a :class:`TrainingTask` on a split starts from: its training images and labels,
    the held-out validation drawings, the recipe and the input normalisation."""

    def __init__(
        self,
        split: FewShotSplit,
        config: TrainingRecipe,
        train_index: torch.Tensor,
        validation_index: torch.Tensor,
        preprocessing: Preprocessing,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config
        self.device = as_device(device)
        self.images, self.labels = split.images[train_index], split.labels[train_index]
        self.validation_images = split.images[validation_index]
        self.validation_labels = split.labels[validation_index]
        self.preprocessing = preprocessing


class TrainingTask(Protocol):
    """What a way of pretraining brings to :func:`train`.

    * ``description``: the progress bar's label;
    * ``steps_per_epoch``: how many batches an epoch has;
    * ``epoch_batches(generator)``: the batches of one epoch, in order, drawing any random
      numbers from ``generator`` (so a seed fixes the whole run); a batch has a length and
      can be sliced (an index tensor, :class:`~fewshot_utils.training.siamese.Pairs`);
    * ``loss(model, batch, generator, part)``: ``(loss, right, count)`` for the examples
      ``batch[part]``: their mean loss to minimise (a 0-d tensor on the model's device), how
      many of those ``count`` examples the model got right. It draws the random numbers of
      the *whole* batch from ``generator`` whatever ``part`` is, so that every process
      draws the same (``part`` is ``slice(None)`` in one process);
    * ``validation_accuracy(model)``: % right on the held-out drawings (``nan`` if none);
    * ``preprocessing``: the input normalisation (saved with every epoch checkpoint).
    """

    description: str
    steps_per_epoch: int
    preprocessing: Preprocessing

    def epoch_batches(self, generator: torch.Generator) -> Iterable[Any]: ...

    def loss(
        self, model: nn.Module, batch: Any, generator: torch.Generator, part: slice
    ) -> tuple[torch.Tensor, int, int]: ...

    def validation_accuracy(self, model: nn.Module) -> float: ...


def train(
    model: nn.Module,
    task: TrainingTask,
    recipe: TrainingRecipe,
    generator: torch.Generator,
    progress: bool = True,
    after_epoch: Callable[[nn.Module, dict], dict | None] | None = None,
    loss_digits: int = 2,
    checkpoints: EpochCheckpoints | None = None,
) -> list[dict]:
    """Train ``model`` on ``task`` for ``recipe.epochs`` epochs; return the history rows.

    AdamW (``recipe.lr``, ``recipe.weight_decay``) with a one-cycle schedule stepped after
    every batch (``pct_start`` 0.15: 15% warm-up, then cosine decay). ``generator`` (on the
    CPU) draws every random number of the run (batch order, augmentation); the model
    trains where its weights are. ``after_epoch(model, row)`` (optional) is called after
    each epoch; a dict it returns is merged into the row. ``loss_digits``: decimals of the
    loss on the progress bar.

    In a process group of ``W`` processes (``torchrun``), process ``r`` computes the part
    :func:`~fewshot_utils.training.distributed.shard` of every batch, its loss weighted by
    ``W · n_r / B`` so that ``DistributedDataParallel``'s average of the gradients is the
    gradient of the whole batch's mean loss; BatchNorm uses the statistics of the whole
    batch. Validation and ``after_epoch`` run on rank 0, whose history every process
    returns; the progress bar is rank 0's.

    ``checkpoints`` (optional, :class:`~fewshot_utils.training.resume.EpochCheckpoints`):
    rank 0 writes an epoch checkpoint after every epoch; with ``checkpoints.resume`` the
    run starts from the one there, after its last finished epoch, and ends with the
    weights an uninterrupted run would have.
    """
    place = distributed.processes()
    device = module_device(model)
    trained = distributed.wrap(model, device) if place.world > 1 else model
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=recipe.lr,
        total_steps=recipe.epochs * task.steps_per_epoch,
        pct_start=0.15,
    )
    history: list[dict] = []
    if checkpoints is not None and checkpoints.resume:
        history = checkpoints.restore(model, recipe, optimiser, schedule, generator).history
    bar = tqdm(
        total=recipe.epochs * task.steps_per_epoch,
        initial=len(history) * task.steps_per_epoch,
        desc=task.description,
        disable=not (progress and place.main),
    )
    for epoch in range(len(history) + 1, recipe.epochs + 1):
        start = time.perf_counter()
        model.train()
        total_loss, right, seen = 0.0, 0, 0
        for batch in task.epoch_batches(generator):
            part = distributed.shard(len(batch), place) if place.world > 1 else slice(None)
            loss, batch_right, count = task.loss(trained, batch, generator, part)
            optimiser.zero_grad(set_to_none=True)
            if place.world > 1:
                # DDP averages over the W processes: W · n_r / B makes that the batch's mean.
                (loss * (place.world * count / len(batch))).backward()
            else:
                loss.backward()
            optimiser.step()
            schedule.step()
            if count:  # a process's part of a short last batch can be empty
                total_loss += loss.item() * count
            right += batch_right
            seen += count
            bar.update()
        total_loss, right, seen = distributed.sum_over_processes([total_loss, right, seen], device)
        row = {
            "epoch": epoch,
            "loss": total_loss / seen,
            "train_accuracy": 100.0 * right / seen,
        }
        if place.main:
            row["validation_accuracy"] = task.validation_accuracy(model)
            row["lr"] = optimiser.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - start
            if after_epoch is not None:
                row.update(after_epoch(model, row) or {})
        row = distributed.from_main(row, device)
        history.append(row)
        if checkpoints is not None and place.main:
            checkpoints.save(
                model, task.preprocessing, recipe, history, optimiser, schedule, generator
            )
        bar.set_postfix(
            loss=f"{row['loss']:.{loss_digits}f}", val=f"{row['validation_accuracy']:.1f}%"
        )
    bar.close()
    if place.world > 1:
        distributed.plain_batchnorm(model)
    model.eval()
    release_freed_memory()  # the batches' activations, kept for reuse until now
    return history
