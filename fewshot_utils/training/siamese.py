"""Siamese pretraining: learn "same or different?" from pairs of images.

The alternative to supervised pretraining that the lecture names (Koch, Zemel
and Salakhutdinov 2015). Instead of naming each image's class, the network sees
**pairs** ``(a, b)`` and answers one question: are they drawings of the same
character? Both images go through the *same* backbone f(x) (two "twin"
branches sharing weights), and a tiny *pair head* turns the two features into
one logit ``z``, with ``p(same) = σ(z)``, trained with binary cross-entropy on
the label ``y = 1`` (same class) or ``y = 0`` (different classes):

    L = -[ y log σ(z) + (1 - y) log(1 - σ(z)) ]

Two pair heads (:class:`SiameseModel`'s ``head``):

* ``"l1"``, Koch et al.'s *weighted L1*: ``z = w · |f(a) - f(b)| + c``, a learned
  weight per feature dimension (:class:`WeightedL1Head`);
* ``"cosine"`` (the default): ``z = s · cos(f(a), f(b)) + c``, a learned scale and
  threshold (:class:`CosineHead`). The few-shot classifier of this course compares
  features by cosine similarity (prototypes), so a head that learns "same" in that
  very geometry makes f(x) directly useful there; the weighted L1 head can instead
  lean on a few feature dimensions that cosine similarity then weighs like all others.

We chose binary cross-entropy on a pair head over a contrastive loss
(``y D² + (1 - y) max(0, m - D)²`` on a distance ``D``) because it is plain
logistic regression on a pair, with no margin ``m`` to tune, and its output is
the probability of "same" that the lecture talks about. After training the head
is dropped, as in supervised pretraining, and f(x) is kept.

The training signal is the difference from supervised pretraining: a pair
carries one bit (same or not), an image in supervised training carries its
class out of 964. :func:`pretrain_siamese` uses the same backbone, data,
augmentation (:func:`fewshot_utils.training.augmentation.random_affine`), optimiser,
schedule and history format as :func:`fewshot_utils.training.supervised.pretrain`, and
one epoch puts as many images through the backbone as a supervised epoch
(``P`` pairs = ``2P`` images), so equal epochs cost about equal time. Both run
through the one loop :func:`fewshot_utils.training.loop.train`: only the
:class:`SiameseTask` (batches of pairs, binary cross-entropy, pair accuracy) differs.

Shapes: a batch of pairs is three tensors of length ``P`` (:class:`Pairs`):
``first`` and ``second`` index the split's images, ``same`` is ``float [P]``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.devices import as_device, module_device
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.training.checks import check_fields, check_recipe
from fewshot_utils.training.loop import (
    SplitTask,
    TrainingRecipe,
    TrainingResult,
    start_run,
    train,
)
from fewshot_utils.training.resume import epoch_checkpoints
from fewshot_utils.validation import Rule, check, check_choice, check_number

# ----------------------------------------------------------------------------
# Pairs
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairs:
    """``P`` pairs of images as index tensors into a split.

    ``first``, ``second``: ``int64 [P]`` image indices; ``same``: ``float32 [P]``,
    1.0 where both images show the same class, 0.0 where they differ.
    """

    first: torch.Tensor
    second: torch.Tensor
    same: torch.Tensor

    def __len__(self) -> int:
        return int(self.first.shape[0])

    def __getitem__(self, index) -> Pairs:
        return Pairs(self.first[index], self.second[index], self.same[index])


def pair_labels(labels: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``float [P]``: 1.0 where ``labels[first] == labels[second]``, else 0.0."""
    return (labels[first] == labels[second]).to(torch.float32)


def sample_pairs(
    labels: torch.Tensor, pairs: int, seed: int = 0, positive_fraction: float = 0.5
) -> Pairs:
    """``pairs`` seeded pairs of images, ``positive_fraction`` of them of the same class.

    ``labels``: ``int64 [I]``, the class of each image. A *positive* pair is two
    different drawings of one class; a *negative* pair is two images of two
    different classes. Each pair's first image is drawn uniformly from all
    images; the second uniformly from the other drawings of its class
    (positive) or from a uniformly chosen other class (negative). Positives come
    first, negatives after; shuffle if the order matters. The same ``seed``
    always gives the same pairs.

    Raises ``ValueError`` if the split has fewer than two classes, or a class
    with a single image (no positive pair for it).
    """
    if int(pairs) != pairs or pairs < 1:
        raise ValueError(f"pairs must be a whole number >= 1, got {pairs}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
    labels = torch.as_tensor(labels, dtype=torch.long)
    counts = torch.bincount(labels)
    present = torch.nonzero(counts).flatten()
    if len(present) < 2:
        raise ValueError(f"pairs need at least 2 classes, the labels have {len(present)}")
    if int(counts[present].min()) < 2:
        raise ValueError(
            "every class needs at least 2 images to make a positive pair, but one has only 1"
        )
    generator = torch.Generator().manual_seed(seed)
    # Images of each class, grouped: order[start[c] : start[c] + counts[c]].
    order = torch.argsort(labels, stable=True)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(len(labels)) - start[labels[order]]

    positives = round(pairs * positive_fraction)
    negatives = pairs - positives
    first = torch.randint(len(labels), (pairs,), generator=generator)
    c = labels[first]

    # Positive: another drawing of the same class (skip the first image itself).
    c_pos = c[:positives]
    step = 1 + (torch.rand(positives, generator=generator) * (counts[c_pos] - 1)).long()
    second_pos = order[start[c_pos] + (rank[first[:positives]] + step) % counts[c_pos]]

    # Negative: a different class (a random non-zero shift among the present classes),
    # then any drawing of it.
    position = torch.full((len(counts),), -1, dtype=torch.long)
    position[present] = torch.arange(len(present))
    c_neg = c[positives:]
    shift = 1 + (torch.rand(negatives, generator=generator) * (len(present) - 1)).long()
    other = present[(position[c_neg] + shift) % len(present)]
    pick = (torch.rand(negatives, generator=generator) * counts[other]).long()
    second_neg = order[start[other] + pick]

    second = torch.cat([second_pos, second_neg])
    return Pairs(first, second, pair_labels(labels, first, second))


# ----------------------------------------------------------------------------
# The Siamese network: twin backbones with shared weights, and a pair head
# ----------------------------------------------------------------------------


class WeightedL1Head(nn.Module):
    """Koch et al.'s head: ``z = w · |f(a) - f(b)| + c``, a learned weight per feature."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, 1)

    def forward(self, features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
        return self.linear((features_a - features_b).abs()).squeeze(-1)


class CosineHead(nn.Module):
    """``z = s · cos(f(a), f(b)) + c``: the cosine similarity the few-shot classifier uses,
    with a learned scale ``s`` (starts at 10) and threshold ``c`` (starts at -5, i.e. "same"
    when the cosine exceeds 0.5)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
        return self.scale * F.cosine_similarity(features_a, features_b, dim=-1) + self.bias


HEADS = {"cosine": CosineHead, "l1": WeightedL1Head}


class SiameseModel(nn.Module):
    """f(x) shared by both images of a pair (the "twins"), and a pair head.

    ``forward(a, b)``: ``float [P, 1, H, W]`` twice -> ``float [P]`` logits ``z`` of
    "same", ``p(same) = sigmoid(z)``. ``head``: ``"cosine"`` (:class:`CosineHead`)
    or ``"l1"`` (Koch et al.'s :class:`WeightedL1Head`).
    """

    def __init__(self, channels: int = 64, head: str = "cosine") -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}: choose one of {', '.join(HEADS)}")
        self.backbone = Conv4(channels)
        self.head = HEADS[head](channels)

    def pair_logits(self, features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
        """The head alone: ``[P, d]`` twice -> ``[P]`` logits."""
        return self.head(features_a, features_b)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # One pass over both halves, so BatchNorm sees all 2P images together.
        features = self.backbone(torch.cat([a, b]))
        return self.pair_logits(*features.split(len(a)))


@dataclass
class SiameseConfig(TrainingRecipe):
    """Settings of Siamese pretraining: the same
    :class:`~fewshot_utils.training.loop.TrainingRecipe` as supervised pretraining, plus:

    ``head``: ``"cosine"`` or ``"l1"`` (see :class:`SiameseModel`);
    ``batch_size`` counts *pairs* (each puts two images through f(x));
    ``pairs_per_epoch`` (``None``: half the training images) sets an epoch's
    length; ``positive_fraction`` of the pairs are "same"; ``validation_pairs``
    fixed pairs of held-out drawings measure pair accuracy after each epoch.
    """

    head: str = "cosine"
    batch_size: int = 64
    pairs_per_epoch: int | None = None
    positive_fraction: float = 0.5
    validation_pairs: int = 4000

    def __post_init__(self) -> None:
        """Check every field when the config is made (:mod:`~fewshot_utils.training.checks`)."""
        getattr(super(), "__post_init__", lambda: None)()
        check_recipe(self)
        check_choice(self.head, "head", tuple(HEADS))
        self.batch_size = check("batch_size", self.batch_size)
        check_fields(self, SIAMESE_RULES)
        if self.pairs_per_epoch is not None:
            self.pairs_per_epoch = check_number(
                self.pairs_per_epoch, "pairs_per_epoch", Rule(True, least=1, hint="or None")
            )


SIAMESE_RULES = {
    "positive_fraction": Rule(least=0, most=1, hint="the share of 'same' pairs; 0.5 is half"),
    "validation_pairs": Rule(True, least=0, most=1_000_000, hint="the course uses 4000"),
}


class SiameseResult(TrainingResult):
    """What Siamese pretraining gives: a :class:`~fewshot_utils.training.loop.TrainingResult`
    whose model is f(x) and the pair head."""


@torch.no_grad()
def pair_accuracy(
    model: SiameseModel,
    images: torch.Tensor,
    pairs: Pairs,
    preprocessing: Preprocessing,
    batch_size: int = 128,
) -> float:
    """% of pairs whose "same" logit has the right sign (``z > 0`` iff same class).

    ``batch_size`` pairs (twice as many images) per forward pass; 128 keeps Conv4's
    activations around 0.1 GB. Each batch is moved to the model's device."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    correct = 0
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        a = preprocessing.to_input(images[batch.first].to(device))
        b = preprocessing.to_input(images[batch.second].to(device))
        same = batch.same.to(device)
        correct += ((model(a, b) > 0).to(torch.float32) == same).sum().item()
    model.train(was_training)
    return 100.0 * correct / max(len(pairs), 1)


class SiameseTask(SplitTask):
    """Siamese pretraining as a :class:`~fewshot_utils.training.loop.TrainingTask`: each
    epoch samples fresh pairs of the training drawings (``positive_fraction`` "same"),
    shuffled, in batches of ``batch_size`` pairs; both images of a pair are warped; binary
    cross-entropy on "same"; accuracy is % of pairs whose logit has the right sign. The
    images stay on the CPU; each batch is moved to ``device``, the model's."""

    description = "Siamese pretraining"

    @functools.cached_property
    def validation_pairs(self) -> Pairs | None:
        """Fixed pairs of the held-out drawings (seeded), or ``None`` if none are held out."""
        if not len(self.validation_labels):
            return None
        config = self.config
        return sample_pairs(self.validation_labels, config.validation_pairs, seed=config.seed + 1)

    @property
    def pairs_per_epoch(self) -> int:
        return self.config.pairs_per_epoch or max(1, len(self.images) // 2)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.pairs_per_epoch / self.config.batch_size)

    def epoch_batches(self, generator: torch.Generator):
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        pairs = sample_pairs(self.labels, self.pairs_per_epoch, seed, self.config.positive_fraction)
        pairs = pairs[torch.randperm(len(pairs), generator=generator)]
        size = self.config.batch_size
        for step in range(self.steps_per_epoch):
            yield pairs[step * size : (step + 1) * size]

    def loss(self, model, batch: Pairs, generator: torch.Generator, part: slice = slice(None)):
        # Both images' warps are drawn for the whole batch, so every process draws the same.
        config = self.config
        theta_first = config.warps(self.images[batch.first], generator)
        theta_second = config.warps(self.images[batch.second], generator)
        batch = batch[part]
        first = config.prepare(
            self.images[batch.first],
            self.preprocessing,
            None if theta_first is None else theta_first[part],
            self.device,
        )
        second = config.prepare(
            self.images[batch.second],
            self.preprocessing,
            None if theta_second is None else theta_second[part],
            self.device,
        )
        same = batch.same.to(self.device)
        logits = model(first, second)
        loss = F.binary_cross_entropy_with_logits(logits, same)
        right = int(((logits > 0).to(torch.float32) == same).sum().item())
        return loss, right, len(batch)

    def validation_accuracy(self, model) -> float:
        if self.validation_pairs is None:
            return float("nan")
        return pair_accuracy(
            model, self.validation_images, self.validation_pairs, self.preprocessing
        )


def pretrain_siamese(
    split: FewShotSplit,
    config: SiameseConfig | None = None,
    progress: bool = True,
    after_epoch: Callable[[SiameseModel, dict], dict | None] | None = None,
    device: str | torch.device | None = None,
    epoch_checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> SiameseResult:
    """Siamese pretraining of Conv4 on pairs of the classes of ``split``.

    Held-out drawings (``validation_per_class`` per class, the same ones as
    supervised pretraining with the same seed) make the validation pairs; each
    epoch samples fresh pairs of the training drawings. ``after_epoch(model, row)``
    (optional) may return a dict merged into the row. History rows, as in
    :func:`~fewshot_utils.training.supervised.pretrain`: ``epoch, loss, train_accuracy,
    validation_accuracy, lr, seconds``, where the accuracies are *pair* accuracies
    (%, same/different right; 50% is chance). ``device``: as in
    :func:`~fewshot_utils.training.supervised.pretrain`.
    """
    config = config or SiameseConfig()
    device = as_device(device)
    generator, train_index, validation_index, preprocessing = start_run(split, config)
    task = SiameseTask(split, config, train_index, validation_index, preprocessing, device)
    model = SiameseModel(config.channels, config.head)
    model = model.to(device, memory_format=torch.channels_last)
    checkpoints = epoch_checkpoints(epoch_checkpoint, resume)
    history = train(
        model,
        task,
        config,
        generator,
        progress,
        after_epoch,
        loss_digits=3,
        checkpoints=checkpoints,
    )
    return SiameseResult(model=model, preprocessing=preprocessing, history=history, config=config)


def config_dict(config: SiameseConfig) -> dict:
    """The config as a plain dict (for a checkpoint's ``meta``)."""
    return asdict(config)
