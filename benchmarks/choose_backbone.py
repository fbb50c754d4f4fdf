"""Choose the pretraining recipe of the shipped Conv4 on held-out *background* alphabets.

    python benchmarks/choose_backbone.py [--episodes 500] [--confirm 1000]
        [--block-episodes 200] [--cache DIR]

What it does (the course's rule, as in ``choose_fine_tuning.py``, whose alphabet
split this script imports so that both records hold out the same alphabets):

1. Omniglot's 30 background alphabets are split, seeded (``--seed 0``), into 24 for
   pretraining (744 classes) and 6 held out (220 classes). Only ``images_background``
   is ever loaded (at each candidate's resolution, from the 105x105 scans): the
   evaluation alphabets are not touched.
2. Each candidate recipe pretrains Conv4 on the 24 (``PretrainingConfig``'s 4
   drawings per class held out for its validation accuracy), on one CPU thread,
   cached under ``--cache`` (default ``/tmp/fewshot_choose_backbone``) as
   ``<recipe tag>_h<held out>_s<seed>.pt`` (e.g.
   ``conv4_c64_e20_px28_a1_rot_s0_h6_s0.pt``) so that a rerun skips training; a file
   made with another recipe or other held-out alphabets is retrained.
3. The held-out classes are embedded once per candidate, and two methods are
   scored: the prototype classifier and all three tricks
   (``METHODS["W = M + entropy + cosine"]``), on ``--episodes`` seeded *selection*
   episodes (seed 1) in each of 5/20-way x 1/5-shot, 15 queries per class. Every
   candidate gets the same episodes (the same image indices, whatever the
   resolution), so the paired difference of two candidates is valid: same
   classes, same images, other features. Finalists are confirmed on
   ``--confirm`` *fresh* episodes (seed 2). Cells: mean ± 95% CI ``1.96 std/√E``.
4. Reported per candidate: training seconds on 1 thread (wall and CPU; the machine
   is shared, so CPU time is the steadier figure), CPU seconds per epoch, the last
   epoch's validation accuracy, parameters, checkpoint size (also with the head
   over the 964 classes of the shipped file), and the CPU seconds of evaluating all
   three tricks on its episodes (the batched fine-tuning costs more with a wider d).

The levers, searched in stages (a staged coordinate search):

* Stage 0: the baseline, ``PretrainingConfig()``'s recipe (64 channels, 28 px,
  20 epochs), and its twin trained with seed 1. The episodes' CIs do not cover the
  randomness of training; the twin's score measures it and sets the tolerance.
* Part A, the scale, keeping the best so far: width 96 and 128 channels (stage 1),
  then 40 epochs (stage 2), and 60 only if 40 was adopted (a branch that loses stops).
* Part B, the other levers, each changed alone on the baseline, where each costs
  1-4 baseline trainings (on a wider or longer incumbent several would not fit the
  budget): resolution 42 px (stage 3; 56 only if 42 was adopted; augmentation's
  ``shift`` is scaled in pixels with the resolution); augmentation off and 1.75x
  stronger (stage 4: rotation, scale, shift, shear); rotations as extra classes
  (stage 5: ``PretrainingConfig.rotations_as_classes``, each class turned by
  90/180/270 degrees is a class of its own, 4 x 744 classes, so 4x the steps per
  epoch; Vinyals et al. 2016); self-distillation (stage 6: one more generation, same
  architecture, loss ``0.5 CE + 0.5 T^2 KL(teacher || student)`` at T = 4 on the same
  augmented batch, as in Tian et al. 2020's code; the teacher is the same recipe
  trained plainly, and its training counts in the recipe's time).
* Part C: the scale of part A with the levers adopted in part B (and the levers
  together, and each alone, on the baseline), against part A's scale (stage 7); if a
  lever recipe wins, its epochs are doubled once more (stage 7b: rotations change the
  task, 4x the classes, so the epochs of stage 2 need not carry over).
* Seed check: the levers of part B trained again with seed 1, against the
  baseline's seed-1 twin: is the gain there with another seed too?
* Lever 8: fine-tuning the backbone's last block on the support set (Dhillon et al.
  2020), with the objective of all three tricks, on the first ``--block-episodes``
  5-way 1-shot selection episodes of the chosen backbone: does it pay, and at what
  cost (reported, not part of the recipe).
  ``--only-last-block`` runs this lever alone on the adopted recipe (rotations as
  classes), from the backbone cached in ``--cache`` (pretrained first if it is not there).

The selection rule. A challenger's *score* against the incumbent is its mean paired
difference (points) over the 8 cells (2 methods x 4 settings), selection episodes.
It is adopted if (1) its score is above the tolerance, the larger of
``--tolerance`` (0.15) and twice the seed twin's |score|; (2) it is significantly
behind (paired 95% CI below 0) in none of the 8 cells; (3) its recipe, teacher
included, projects to at most 60 minutes of pretraining on the full background (964
classes, 16 drawings each) with 2 idle threads: 1-thread CPU seconds here x images /
the README's 1.6x speed-up for 2 threads (measured again at the end, once); (4) its
checkpoint with the 964-class head is at most 5 MB. The best eligible score of a
stage wins, else the incumbent stays. A candidate whose estimated training exceeds
``--max-candidate`` CPU seconds is left out and listed.

How long: from an empty cache, about 4-5 hours on one thread of a shared 2-core
CPU. In the runs of the record (``benchmarks/choose_backbone.txt``) the trainings
of stages 0-6 took 8,971 s wall-clock (5,792 s CPU), stage 7b's 40 epochs with
rotations ran at about a minute an epoch, and the seed check trains rotations once
more (stage 5's took 1,164 s); then come the confirmation and lever 8. With the
cache, a rerun skips every training it holds.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import _common  # noqa: F401  (before torch: sets OMP_WAIT_POLICY; puts the clone on sys.path)
import torch
import torch.nn.functional as F

from benchmarks.choose_fine_tuning import (
    CONFIRMATION_SEED,
    SELECTION_SEED,
    SETTINGS,
    SHARED_ZIPS,
    add_split_and_episode_arguments,
    say,
    split_alphabets,
)
from fewshot_utils.data.omniglot import ZIPS_VARIABLE, load_omniglot_split
from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.fewshot.entropy import entropy_from_logits
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate, mean_and_ci, paired_difference
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.methods import METHODS
from fewshot_utils.fewshot.prototypes import prototypes
from fewshot_utils.fewshot.softmax_classifier import classifier_logits
from fewshot_utils.models.checkpoints import load_backbone, save_checkpoint
from fewshot_utils.models.conv4 import embed, fit_preprocessing
from fewshot_utils.training.augmentation import random_affine
from fewshot_utils.training.loop import start_run, train_validation_split
from fewshot_utils.training.supervised import (
    PretrainingConfig,
    PretrainingModel,
    PretrainingResult,
    SupervisedTask,
    config_dict,
    pretrain,
    train_a_new_model,
)

#: The two methods every candidate is judged by.
JUDGED = {
    "prototype": METHODS["prototype"],
    "all three tricks": METHODS["W = M + entropy + cosine"],
}
QUERIES = 15
DEFAULTS = PretrainingConfig()
#: "strong" augmentation multiplies rotation, scale, shift and shear by this.
STRONG = 1.75
#: Self-distillation as in Tian et al. 2020 (their code's defaults): loss =
#: (1 - KD_WEIGHT) CE + KD_WEIGHT T^2 KL(teacher/T || student/T), T = 4.
KD_WEIGHT, KD_TEMPERATURE = 0.5, 4.0
#: Shipped backbone: all 964 background characters, 16 training drawings each.
SHIPPED_CLASSES, SHIPPED_TRAIN_PER_CLASS = 964, 16
#: 2-thread speed-up of pretraining on an idle 2-core machine (README); measured again below.
README_SPEEDUP = 1.6
BUDGET_MINUTES, BUDGET_MB = 60.0, 5.0


# ----------------------------------------------------------------------------
# The lever the package lacks: self-distillation. (Rotations as classes are the
# package's: PretrainingConfig.rotations_as_classes.)
# ----------------------------------------------------------------------------


class DistilledTask(SupervisedTask):
    """Supervised pretraining taught by a ``teacher`` over the same classes (Tian et al. 2020).

    The loss of a batch becomes ``(1 - weight) CE + weight T^2 KL(softmax(t/T) ||
    softmax(s/T))`` on the same augmented batch, ``t`` the logits of the teacher (in
    eval mode), ``s`` the student's, ``T = KD_TEMPERATURE``. Everything else is
    :class:`~fewshot_utils.training.supervised.SupervisedTask`'s, rotations as classes
    included (the teacher must then be over the 4C classes). :meth:`loss` repeats
    ``SupervisedTask.loss`` line by line before adding the KL term: with ``weight = 0``
    it gives ``pretrain``'s weights exactly (checked by :func:`check_distillation`).
    """

    def __init__(self, *args, teacher: PretrainingModel, weight: float = KD_WEIGHT, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.device, memory_format=torch.channels_last).eval()
        self.weight = weight

    def loss(self, model, batch: torch.Tensor, generator: torch.Generator, part=slice(None)):
        theta = self.config.warps(self.images[batch], generator)
        batch = batch[part]
        theta = None if theta is None else theta[part]
        x = self.config.prepare(self.images[batch], self.preprocessing, theta, self.device)
        y = self.labels[batch].to(self.device)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
        with torch.no_grad():
            targets = F.softmax(self.teacher(x) / KD_TEMPERATURE, dim=1)
        divergence = F.kl_div(
            F.log_softmax(logits / KD_TEMPERATURE, dim=1), targets, reduction="batchmean"
        )
        loss = (1 - self.weight) * loss + self.weight * KD_TEMPERATURE**2 * divergence
        return loss, int((logits.argmax(1) == y).sum().item()), len(batch)


def pretrain_with_levers(
    split: FewShotSplit,
    config: PretrainingConfig,
    teacher: PretrainingModel | None = None,
    after_epoch=None,
    weight: float = KD_WEIGHT,
) -> PretrainingResult:
    """``pretrain(split, config)`` (rotations as classes: ``config.rotations_as_classes``),
    or, with a ``teacher``, the same run through the course's training loop with the
    distillation loss of :class:`DistilledTask`."""
    if teacher is None:
        return pretrain(split, config, progress=False, after_epoch=after_epoch)
    generator, train_index, validation_index, preprocessing = start_run(split, config)
    task = DistilledTask(
        split, config, train_index, validation_index, preprocessing, teacher=teacher, weight=weight
    )
    return train_a_new_model(
        task, split, config, generator, preprocessing, progress=False, after_epoch=after_epoch
    )


def check_distillation(split: FewShotSplit) -> str:
    """With its weight at 0, the distillation loss must give ``pretrain``'s weights exactly."""
    small = split.subset_classes(list(range(20)))
    config = PretrainingConfig(epochs=1, batch_size=32)
    a = pretrain(small, config, progress=False).model.state_dict()
    teacher = PretrainingModel(small.num_classes, config.channels)
    b = pretrain_with_levers(small, config, teacher, weight=0.0).model.state_dict()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    if worst != 0.0:
        raise SystemExit(f"the distillation loss at weight 0 differs from pretrain() by {worst}")
    return "the distillation loss at weight 0 gives pretrain()'s weights exactly (1 epoch)"


# ----------------------------------------------------------------------------
# Candidates: a recipe, its cached checkpoint, its features and scores
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """One pretraining recipe: ``PretrainingConfig`` defaults but these levers."""

    channels: int = 64
    epochs: int = 20
    image_size: int = 28
    augmentation: str = "default"  # "off", "default" or "strong" (x STRONG)
    rotations: bool = False
    distill: bool = False  # a second generation, taught by the same recipe without it
    seed: int = 0

    def config(self) -> PretrainingConfig:
        factor = STRONG if self.augmentation == "strong" else 1.0
        return PretrainingConfig(
            epochs=self.epochs,
            channels=self.channels,
            seed=self.seed,
            augment=self.augmentation != "off",
            rotation=DEFAULTS.rotation * factor,
            scale=round(DEFAULTS.scale * factor, 6),
            # pixels: the default 2 px at 28 px, scaled with the resolution
            shift=round(DEFAULTS.shift * factor * self.image_size / 28, 6),
            shear=round(DEFAULTS.shear * factor, 6),
            rotations_as_classes=self.rotations,
        )

    def teacher(self) -> Recipe:
        return replace(self, distill=False)

    def label(self) -> str:
        text = f"{self.channels} ch, {self.image_size} px, {self.epochs} ep"
        if self.augmentation != "default":
            text += f", aug {self.augmentation}"
        if self.rotations:
            text += ", +rot"
        if self.distill:
            text += ", +distill"
        if self.seed:
            text += f", seed {self.seed}"
        return text

    def tag(self) -> str:
        aug = {"off": "a0", "default": "a1", "strong": f"a{STRONG:g}"}[self.augmentation]
        return (
            f"conv4_c{self.channels}_e{self.epochs}_px{self.image_size}_{aug}"
            f"{'_rot' if self.rotations else ''}{'_kd' if self.distill else ''}_s{self.seed}"
        )


@dataclass
class Candidate:
    recipe: Recipe
    path: Path
    meta: dict
    history: list
    parameters: int
    head_parameters: int
    megabytes: float
    features: torch.Tensor
    results: dict  # (bench name, method, setting) -> EvaluationResult
    eval_cpu: dict  # (bench name, method, setting) -> CPU seconds of that evaluation

    @property
    def cpu_seconds(self) -> float:
        return self.meta["cpu_seconds"]

    @property
    def recipe_cpu_seconds(self) -> float:
        """Its own training plus its teacher's, if any: what the shipped recipe would cost."""
        return self.meta["cpu_seconds"] + self.meta.get("teacher_cpu_seconds", 0.0)

    def shipped_minutes(self, speedup: float) -> float:
        """Projected 2-thread minutes on the full background (964 classes, idle machine)."""
        images = self.meta["train_images"] / (4 if self.recipe.rotations else 1)
        scale = SHIPPED_CLASSES * SHIPPED_TRAIN_PER_CLASS / images
        return self.recipe_cpu_seconds * scale / speedup / 60

    def shipped_megabytes(self) -> float:
        """The checkpoint with a head over 964 (or 4 x 964) classes instead of 744."""
        per_class = 4 * (self.recipe.channels + 1)
        extra = (SHIPPED_CLASSES - self.meta["num_classes"]) * (4 if self.recipe.rotations else 1)
        return self.megabytes + extra * per_class / 2**20


class Search:
    """Data, episodes, and every candidate trained or read from the cache."""

    def __init__(self, args):
        self.args = args
        self.cache = Path(args.cache)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.splits: dict[int, tuple[FewShotSplit, FewShotSplit]] = {}
        self.candidates: dict[Recipe, Candidate] = {}
        self.held_alphabets: list[str] = []
        self.benches: dict[str, dict] = {}
        self.trained_now = 0.0
        self.tolerance = args.tolerance
        self.stages: list = []
        self.left_out: list = []

    def data(self, size: int) -> tuple[FewShotSplit, FewShotSplit]:
        """(pretraining split, held-out split) of the background alphabets at ``size`` px."""
        if size not in self.splits:
            shared = all(path.is_file() for path in SHARED_ZIPS)
            zips = SHARED_ZIPS if shared and not os.environ.get(ZIPS_VARIABLE) else None
            background = load_omniglot_split("background", image_size=size, zips=zips)
            kept, held, names = split_alphabets(background, self.args.held_out, self.args.seed)
            self.held_alphabets = names
            self.splits[size] = (background.subset_classes(kept), background.subset_classes(held))
            if not self.benches:
                labels = self.splits[size][1].labels
                # The same image indices for every candidate, whatever its resolution.
                plan = {"select": (self.args.episodes, SELECTION_SEED)}
                plan["confirm"] = (self.args.confirm, CONFIRMATION_SEED)
                self.benches = {
                    bench: {
                        key: sample_episodes(labels, *key, QUERIES, n, seed) for key in SETTINGS
                    }
                    for bench, (n, seed) in plan.items()
                }
        return self.splits[size]

    def get(self, recipe: Recipe) -> Candidate:
        """The candidate of ``recipe``: from the cache, or pretrained now (1 thread)."""
        if recipe in self.candidates:
            return self.candidates[recipe]
        train_split, held_split = self.data(recipe.image_size)
        path = self.cache / f"{recipe.tag()}_h{self.args.held_out}_s{self.args.seed}.pt"
        checkpoint = load_backbone(path) if path.is_file() else None
        if checkpoint is not None and (
            checkpoint.meta.get("recipe") != asdict(recipe)
            or checkpoint.meta.get("held_out_alphabets") != self.held_alphabets
        ):
            say(f"  {path} was made with other settings: pretraining again")
            checkpoint = None
        if checkpoint is None:
            checkpoint = self.train(recipe, train_split, path)
        features = embed(checkpoint.backbone, held_split.images, checkpoint.preprocessing)
        candidate = Candidate(
            recipe=recipe,
            path=path,
            meta=checkpoint.meta,
            history=checkpoint.history,
            parameters=sum(p.numel() for p in checkpoint.backbone.parameters()),
            head_parameters=sum(p.numel() for p in checkpoint.head.parameters()),
            megabytes=path.stat().st_size / 2**20,
            features=features,
            results={},
            eval_cpu={},
        )
        self.candidates[recipe] = candidate
        return candidate

    def train(self, recipe: Recipe, split: FewShotSplit, path: Path):
        teacher, teacher_seconds = None, 0.0
        if recipe.distill:
            source = self.get(recipe.teacher())
            loaded = load_backbone(source.path)
            teacher = PretrainingModel(loaded.head.out_features, recipe.channels)
            teacher.backbone, teacher.head = loaded.backbone, loaded.head
            teacher_seconds = source.cpu_seconds
        config = recipe.config()
        say(f"  pretraining {recipe.label()} (1 thread): {config}")
        clock = {"cpu": time.process_time()}
        load_before = os.getloadavg()[0]

        def log(model, row):
            now = time.process_time()
            cpu, clock["cpu"] = now - clock["cpu"], now
            say(
                f"    epoch {row['epoch']:2d}: loss {row['loss']:.3f}, validation "
                f"{row['validation_accuracy']:.1f}%, {row['seconds']:.1f} s, {cpu:.1f} s CPU, "
                f"load {os.getloadavg()[0]:.1f}"
            )
            return {"cpu_seconds": cpu}

        start, cpu_start = time.perf_counter(), time.process_time()
        result = pretrain_with_levers(split, config, teacher, after_epoch=log)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        self.trained_now += cpu_seconds
        say(f"  took {seconds:.0f} s ({cpu_seconds:.0f} s CPU)")
        train_index, _ = train_validation_split(
            split.labels, config.validation_per_class, config.seed
        )
        meta = {
            "recipe": asdict(recipe),
            "pretraining": config_dict(config),
            "held_out_alphabets": self.held_alphabets,
            "num_classes": split.num_classes,
            "train_images": len(train_index) * (4 if recipe.rotations else 1),
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "teacher_cpu_seconds": teacher_seconds,
            "load_average": [load_before, os.getloadavg()[0]],
            "threads": torch.get_num_threads(),
            "command": "benchmarks/choose_backbone.py",
        }
        save_checkpoint(
            path, result.backbone, result.preprocessing, result.history, meta, result.model.head
        )
        return load_backbone(path)

    def result(self, candidate: Candidate, bench: str, method: str, key):
        memo = (bench, method, key)
        if memo not in candidate.results:
            episodes = self.benches[bench][key]
            cpu = time.process_time()
            candidate.results[memo] = evaluate(candidate.features, episodes, JUDGED[method])
            candidate.eval_cpu[memo] = time.process_time() - cpu
        return candidate.results[memo]

    def cells(self, a: Candidate, b: Candidate, bench: str = "select") -> dict:
        """Paired differences a - b in the 8 cells (method x setting), the score, where behind."""
        cells = {
            (method, key): paired_difference(
                self.result(a, bench, method, key), self.result(b, bench, method, key)
            )
            for method in JUDGED
            for key in SETTINGS
        }
        score = sum(d.mean for d in cells.values()) / len(cells)
        behind = [cell for cell, d in cells.items() if d.mean + d.ci95 < 0]
        return {"cells": cells, "score": score, "behind": behind}

    def tricks_seconds(self, candidate: Candidate, bench: str = "select") -> float:
        return sum(
            self.result(candidate, bench, "all three tricks", key).seconds for key in SETTINGS
        )


# ----------------------------------------------------------------------------
# Printing
# ----------------------------------------------------------------------------

COLUMNS = "".join(f"{w}w{k}s".rjust(14) for w, k in SETTINGS)
HEADER = "".ljust(34) + "prototype".ljust(56) + "all three tricks"


def accuracy_line(search: Search, candidate: Candidate, bench: str = "select") -> str:
    text = candidate.recipe.label().ljust(34)
    for method in JUDGED:
        for key in SETTINGS:
            r = search.result(candidate, bench, method, key)
            text += f"{r.accuracy:6.2f} ±{r.ci95:5.2f}"
        text += "  "
    return text


def difference_line(label: str, comparison: dict) -> str:
    text = f"  {label}".ljust(34)
    for method in JUDGED:
        for key in SETTINGS:
            d = comparison["cells"][(method, key)]
            text += f"{d.mean:+6.2f} ±{d.ci95:5.2f}"
        text += "  "
    return text + f"score {comparison['score']:+.2f}"


def cell_name(cell) -> str:
    method, (w, k) = cell
    return f"{'proto' if method == 'prototype' else 'tricks'} {w}w{k}s"


def describe(search: Search, c: Candidate) -> str:
    h = c.history[-1]
    per_epoch = c.cpu_seconds / len(c.history)
    return (
        f"{c.recipe.label()}: {c.meta['seconds']:.0f} s wall, {c.cpu_seconds:.0f} s CPU "
        f"({per_epoch:.1f} s CPU/epoch, load {c.meta['load_average'][0]:.1f}), validation "
        f"{h['validation_accuracy']:.1f}%, {c.parameters:,} backbone + {c.head_parameters:,} "
        f"head parameters, {c.megabytes:.2f} MB, tricks eval {search.tricks_seconds(c):.1f} s CPU"
    )


# ----------------------------------------------------------------------------
# The selection rule, one stage at a time
# ----------------------------------------------------------------------------


def estimate_cpu_seconds(search: Search, recipe: Recipe) -> float | None:
    """1-thread CPU seconds to train ``recipe``, from the candidates measured so far."""
    per_epoch = {}
    for c in search.candidates.values():
        if not c.recipe.distill:
            key = (c.recipe.channels, c.recipe.image_size, c.recipe.rotations)
            per_epoch.setdefault(key, c.cpu_seconds / len(c.history))
    same = per_epoch.get((recipe.channels, recipe.image_size, recipe.rotations))
    if same is not None:
        seconds = same * recipe.epochs
    else:
        width = per_epoch.get((recipe.channels, 28, False))
        if width is None:
            return None
        base = per_epoch.get((64, 28, False))
        resolution = per_epoch.get((64, recipe.image_size, False))
        factor = resolution / base if resolution and base else (recipe.image_size / 28) ** 2
        seconds = width * factor * recipe.epochs * (4 if recipe.rotations else 1)
    if recipe.distill:
        seconds *= 4 / 3  # one more forward pass (the teacher's) per step
        if recipe.teacher() not in search.candidates:
            seconds += estimate_cpu_seconds(search, recipe.teacher()) or 0.0
    return seconds


def affordable(search: Search, recipe: Recipe) -> bool:
    """Cached, or its estimated training fits in ``--max-candidate`` CPU seconds."""
    path = search.cache / f"{recipe.tag()}_h{search.args.held_out}_s{search.args.seed}.pt"
    if recipe in search.candidates or path.is_file():
        return True
    estimate = estimate_cpu_seconds(search, recipe)
    if estimate is not None and estimate > search.args.max_candidate:
        say(
            f"  left out: {recipe.label()} (estimated {estimate:.0f} s CPU to train, more than "
            f"--max-candidate {search.args.max_candidate:.0f} s)"
        )
        search.left_out.append((recipe, estimate))
        return False
    return True


def stage(search: Search, title: str, incumbent: Recipe, challengers: list[Recipe]) -> Recipe:
    """Train and judge ``challengers`` against ``incumbent``; the selection rule picks one."""
    tolerance = search.tolerance
    say(f"\n-- {title} (incumbent: {incumbent.label()}) --")
    base = search.get(incumbent)
    judged = []
    for recipe in challengers:
        if not affordable(search, recipe):
            continue
        candidate = search.get(recipe)
        judged.append((recipe, candidate, search.cells(candidate, base)))
    search.stages.append((title, incumbent, [recipe for recipe, _, _ in judged]))
    say(HEADER)
    say("".ljust(34) + COLUMNS + "  " + COLUMNS)
    say(accuracy_line(search, base))
    for _, candidate, comparison in judged:
        say(accuracy_line(search, candidate))
        say(difference_line("- incumbent", comparison))
    for candidate in [base, *(c for _, c, _ in judged)]:
        say("  " + describe(search, candidate))
    eligible = []
    for recipe, candidate, comparison in judged:
        reasons = []
        if comparison["score"] <= tolerance:
            reasons.append(f"score {comparison['score']:+.2f} <= tolerance {tolerance:.2f}")
        if comparison["behind"]:
            where = ", ".join(cell_name(c) for c in comparison["behind"])
            reasons.append(f"significantly behind in {where}")
        minutes = candidate.shipped_minutes(README_SPEEDUP)
        if minutes > BUDGET_MINUTES:
            reasons.append(f"projected {minutes:.0f} min > {BUDGET_MINUTES:.0f}")
        if candidate.shipped_megabytes() > BUDGET_MB:
            reasons.append(f"{candidate.shipped_megabytes():.1f} MB > {BUDGET_MB:.0f}")
        if reasons:
            say(f"  {recipe.label()}: not adopted ({'; '.join(reasons)})")
        else:
            say(f"  {recipe.label()}: eligible (score {comparison['score']:+.2f})")
            eligible.append((comparison["score"], recipe))
    if not eligible:
        say(f"  -> keep {incumbent.label()}")
        return incumbent
    chosen = max(eligible, key=lambda pair: pair[0])[1]
    say(f"  -> adopt {chosen.label()}")
    return chosen


# ----------------------------------------------------------------------------
# Lever 8: fine-tuning the backbone's last block on the support set (Dhillon et al. 2020)
# ----------------------------------------------------------------------------


def grouped_block(x, weight, gain, shift, mean, inverse_std) -> torch.Tensor:
    """Each episode's own copy of Conv4's last block (BatchNorm in eval mode).

    ``x [E, R, C, h, w]`` maps after block 3 -> ``[E, R, C]`` features; ``weight
    [E C, C, 3, 3]``, ``gain, shift [E C]``, ``mean, inverse_std [1, E C, 1, 1]``.
    """
    episodes, rows, channels = x.shape[:3]
    x = x.transpose(0, 1).reshape(rows, episodes * channels, *x.shape[3:])
    y = F.conv2d(x, weight, padding=1, groups=episodes)
    y = (y - mean) * inverse_std * gain.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
    y = F.max_pool2d(F.relu(y), 2).mean(dim=(2, 3))
    return y.view(rows, episodes, channels).transpose(0, 1)


def block_tuning(
    candidate: Candidate,
    images: torch.Tensor,
    episodes,
    block_lr: float,
    base: FineTuning,
    chunk: int = 50,
) -> tuple[torch.Tensor, float]:
    """Per-episode accuracy (%) and seconds of fine-tuning block 4 + the classifier.

    The objective and the classifier are those of ``base`` (all three tricks: W = M,
    cosine with scale s, entropy λ on the queries, Adam); block 4's conv weights and
    BatchNorm affine weights are trained too, with Adam at ``block_lr`` (BatchNorm
    keeps its running statistics). ``block_lr = 0`` is the frozen all-three-tricks.
    Batched like ``fine_tune``: ``chunk`` episodes at once, each with its own copy of
    block 4 (a grouped convolution), the loss summed over episodes so that every
    episode follows its own Adam steps. The image maps after block 3 are computed once.
    """
    loaded = load_backbone(candidate.path)
    trunk, (conv, norm) = loaded.backbone.blocks[:3], loaded.backbone.blocks[3][:2]
    used = torch.unique(torch.cat([episodes.support.flatten(), episodes.query.flatten()]))
    position = torch.full((len(images),), -1, dtype=torch.long)
    position[used] = torch.arange(len(used))
    with torch.no_grad():
        maps = torch.cat(
            [
                trunk(loaded.preprocessing.to_input(images[used[i : i + 64]]))
                for i in range(0, len(used), 64)
            ]
        )
    ways, shots, queries = episodes.ways, episodes.shots, episodes.queries
    support_labels = torch.arange(ways).repeat_interleave(shots)
    query_labels = torch.arange(ways).repeat_interleave(queries)
    accuracies = []
    start = time.perf_counter()
    for first in range(0, episodes.num_episodes, chunk):
        part = episodes[first : first + chunk]
        count = part.num_episodes
        support = maps[position[part.support.reshape(count, -1)]]  # [E, NK, C, h, w]
        query = maps[position[part.query.reshape(count, -1)]]  # [E, NQ, C, h, w]
        weight = conv.weight.detach().repeat(count, 1, 1, 1)  # [E C, C, 3, 3]
        gain = norm.weight.detach().repeat(count)
        shift = norm.bias.detach().repeat(count)
        mean = norm.running_mean.repeat(count).view(1, -1, 1, 1)
        inverse_std = (norm.running_var + norm.eps).rsqrt().repeat(count).view(1, -1, 1, 1)

        state = (weight, gain, shift, mean, inverse_std)

        with torch.no_grad():
            W = prototypes(grouped_block(support, *state).reshape(count, ways, shots, -1)).clone()
        b = torch.zeros(count, ways)
        W.requires_grad_(True)
        b.requires_grad_(True)
        groups = [{"params": [W, b], "lr": base.lr}]
        if block_lr > 0:
            for tensor in (weight, gain, shift):
                tensor.requires_grad_(True)
            groups.append({"params": [weight, gain, shift], "lr": block_lr})
        optimiser = torch.optim.Adam(groups)
        with torch.enable_grad():
            for _ in range(base.steps):
                logits = classifier_logits(
                    W, b, grouped_block(support, *state), "cosine", base.scale
                )
                loss = F.cross_entropy(
                    logits.transpose(1, 2), support_labels.expand(count, -1), reduction="none"
                ).mean(dim=1)
                query_logits = classifier_logits(
                    W, b, grouped_block(query, *state), "cosine", base.scale
                )
                loss = loss + base.entropy_weight * entropy_from_logits(query_logits).mean(dim=1)
                optimiser.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimiser.step()
        with torch.no_grad():
            logits = classifier_logits(W, b, grouped_block(query, *state), "cosine", base.scale)
            right = logits.argmax(-1) == query_labels
            accuracies.append(100.0 * right.float().mean(dim=1))
    return torch.cat(accuracies), time.perf_counter() - start


def lever_block_tuning(search: Search, candidate: Candidate, count: int) -> None:
    say(
        f"\n== Lever 8: fine-tuning the last block on the support set, {candidate.recipe.label()}, "
        f"the first {count} 5-way 1-shot selection episodes =="
    )
    episodes = search.benches["select"][(5, 1)][0:count]
    images = search.data(candidate.recipe.image_size)[1].images
    prototype = search.result(candidate, "select", "prototype", (5, 1)).per_episode[:count]
    frozen = search.result(candidate, "select", "all three tricks", (5, 1))
    tricks = frozen.per_episode[:count]
    base = JUDGED["all three tricks"]
    say(f"objective of all three tricks ({base.describe()}); block 4 trained with Adam at block lr")
    say(f"prototype: {prototype.mean():.2f}%; all three tricks, frozen: {tricks.mean():.2f}%")
    say(
        f"(all three tricks, batched: {1000 * frozen.seconds / frozen.episodes:.1f} ms per episode)"
    )
    for block_lr in (0.0, 1e-4, 1e-3, 1e-2):
        per_episode, seconds = block_tuning(candidate, images, episodes, block_lr, base)
        vs_proto = mean_and_ci(per_episode - prototype)
        vs_tricks = mean_and_ci(per_episode - tricks)
        same = int(torch.isclose(per_episode.double(), tricks.double(), atol=1e-3).sum())
        say(
            f"block lr {block_lr:g}: {per_episode.mean():6.2f}%, - prototype {vs_proto[0]:+.2f} ± "
            f"{vs_proto[1]:.2f}, - all three tricks {vs_tricks[0]:+.2f} ± {vs_tricks[1]:.2f} "
            f"({same}/{count} episodes equal), {1000 * seconds / count:.0f} ms per episode"
        )


# ----------------------------------------------------------------------------
# Two threads, once
# ----------------------------------------------------------------------------


def measure_speedup(search: Search, recipe: Recipe, steps: int = 15) -> tuple[float, float]:
    """Seconds per training step of ``recipe`` with 1 and 2 threads (best of 2 alternations)."""
    split = search.data(recipe.image_size)[0]
    config = recipe.config()
    preprocessing = fit_preprocessing(split.images)
    classes = split.num_classes * (4 if recipe.rotations else 1)
    model = PretrainingModel(classes, recipe.channels).to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(0)

    def step():
        batch = torch.randint(0, len(split.images), (config.batch_size,), generator=generator)
        x = preprocessing.to_input(split.images[batch])
        x = random_affine(x, generator, config.rotation, config.scale, config.shift, config.shear)
        loss = F.cross_entropy(
            model(x.contiguous(memory_format=torch.channels_last)), split.labels[batch]
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    best = {1: math.inf, 2: math.inf}
    for _ in range(2):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for _ in range(3):
                step()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            best[threads] = min(best[threads], (time.perf_counter() - start) / steps)
    torch.set_num_threads(1)
    return best[1], best[2]


# ----------------------------------------------------------------------------
# Summary and confirmation
# ----------------------------------------------------------------------------


def summary(search: Search, baseline: Candidate) -> None:
    say(
        "\n== Every candidate (selection episodes; time: 1 thread, this run's machine, shared; "
        f"projection: full background, {README_SPEEDUP}x for 2 threads) =="
    )
    say(
        "candidate".ljust(34)
        + "wall s  CPU s  CPU s/ep  valid%  params   MB  MB@964  2thr min  tricks s"
        + "  proto  tricks  score vs base"
    )
    for c in search.candidates.values():
        proto = sum(search.result(c, "select", "prototype", k).accuracy for k in SETTINGS) / 4
        tricks = sum(search.result(c, "select", "all three tricks", k).accuracy for k in SETTINGS)
        score = search.cells(c, baseline)["score"] if c is not baseline else 0.0
        teacher = " (+teacher)" if c.recipe.distill else ""
        say(
            c.recipe.label().ljust(34)
            + f"{c.meta['seconds']:6.0f} {c.cpu_seconds:6.0f} {c.cpu_seconds / len(c.history):9.1f}"
            + f" {c.history[-1]['validation_accuracy']:7.1f} {c.parameters:7,d} {c.megabytes:5.2f}"
            + f" {c.shipped_megabytes():6.2f} {c.shipped_minutes(README_SPEEDUP):9.1f}"
            + f" {search.tricks_seconds(c):9.1f} {proto:6.2f} {tricks / 4:7.2f} {score:+9.2f}"
            + teacher
        )
    say(
        "(proto, tricks: mean accuracy over the four settings; score: mean paired difference to "
        "the baseline over the 8 cells; 2thr min includes a teacher's training; valid% of +rot "
        "is over 4 x 744 classes; tricks s: CPU s of all three tricks on the 4 x 500 episodes, "
        "measured under this run's changing load)"
    )
    tricks_cost_by_width(search)
    say("\npaired difference to the baseline, every candidate (selection episodes):")
    say(HEADER)
    say("".ljust(34) + COLUMNS + "  " + COLUMNS)
    for c in search.candidates.values():
        if c is not baseline:
            say(difference_line(c.recipe.label(), search.cells(c, baseline)))


def tricks_cost_by_width(search: Search) -> None:
    """CPU seconds of all three tricks per feature width, measured back to back (best of 2)."""
    key = (20, 5)
    episodes = search.benches["select"][key]
    widths = {}
    for c in search.candidates.values():
        widths.setdefault(c.recipe.channels, c)
    line = []
    for channels, c in sorted(widths.items()):
        best = math.inf
        for _ in range(2):
            cpu = time.process_time()
            evaluate(c.features, episodes, JUDGED["all three tricks"])
            best = min(best, time.process_time() - cpu)
        line.append(f"d = {channels}: {best:.1f} s")
    say(
        f"all three tricks on the {len(episodes)} 20-way 5-shot selection episodes, back to back, "
        f"CPU (load {os.getloadavg()[0]:.1f}): " + ", ".join(line)
    )


def confirmation(
    search: Search, finalists: list[Candidate], chosen: Candidate, baseline: Candidate
) -> None:
    args = search.args
    say(
        f"\n== Confirmation: {args.confirm} fresh episodes per setting (seed {CONFIRMATION_SEED}), "
        "held-out background classes =="
    )
    say(HEADER)
    say("".ljust(34) + COLUMNS + "  " + COLUMNS)
    for c in finalists:
        say(accuracy_line(search, c, "confirm"))
    say("\npaired difference to the baseline (same episodes, other features):")
    for c in finalists:
        if c is not baseline:
            say(difference_line(c.recipe.label(), search.cells(c, baseline, "confirm")))
    say(f"\npaired difference of the chosen {chosen.recipe.label()} to each other finalist:")
    for c in finalists:
        if c is not chosen and c is not baseline:
            say(difference_line(f"- {c.recipe.label()}", search.cells(chosen, c, "confirm")))
    seconds = ", ".join(
        f"{c.recipe.label()}: {search.tricks_seconds(c, 'confirm'):.1f} s" for c in finalists
    )
    say(f"all three tricks, CPU time of the {4 * args.confirm} confirmation episodes: {seconds}")


# ----------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_and_episode_arguments(parser, seed_help="alphabet split, as choose_fine_tuning")
    parser.add_argument("--tolerance", type=float, default=0.15, help="least score, points")
    parser.add_argument(
        "--max-candidate", type=float, default=2400.0, help="CPU s to train one candidate"
    )
    parser.add_argument("--block-episodes", type=int, default=200, help="lever 8 (0: skip)")
    parser.add_argument("--cache", default="/tmp/fewshot_choose_backbone")
    parser.add_argument(
        "--only-last-block",
        action="store_true",
        help="only lever 8, on the adopted recipe (rotations as classes), from the cache",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    say(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, "
        f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    search = Search(args)
    train_split, held_split = search.data(28)
    say(f"pretraining on {train_split.describe()}")
    say(f"held out (selection): {held_split.describe()}: {', '.join(search.held_alphabets)}")
    say("(the evaluation alphabets are never loaded)")
    if args.only_last_block:
        lever_block_tuning(search, search.get(Recipe(rotations=True)), args.block_episodes)
        say(f"\n(all: {time.perf_counter() - started:.0f} s)")
        return 0
    say(check_distillation(train_split))

    # ------------------------------------------------------------------ 0
    baseline = Recipe()
    say("\n== Stage 0: the baseline (today's defaults) and its training-seed twin ==")
    base = search.get(baseline)
    twin = search.get(replace(baseline, seed=1))
    noise = search.cells(twin, base)
    say(HEADER)
    say("".ljust(34) + COLUMNS + "  " + COLUMNS)
    say(accuracy_line(search, base))
    say(accuracy_line(search, twin))
    say(difference_line("seed 1 - seed 0", noise))
    for c in (base, twin):
        say("  " + describe(search, c))
    search.tolerance = max(args.tolerance, 2 * abs(noise["score"]))
    say(
        f"The episodes' CIs do not cover a change of training seed, which moved the score by "
        f"{noise['score']:+.2f}: a lever must score more than {search.tolerance:.2f} points "
        f"(the larger of --tolerance and twice that)."
    )

    # ------------------------------------------------------------------ A. scale
    say("\n== Part A: the scale (coordinate search from the baseline) ==")
    scale = stage(
        search, "Stage 1: width", baseline, [replace(baseline, channels=c) for c in (96, 128)]
    )
    scale = stage(search, "Stage 2: epochs", scale, [replace(scale, epochs=40)])
    if scale.epochs == 40:
        scale = stage(search, "Stage 2b: epochs", scale, [replace(scale, epochs=60)])

    # ------------------------------------------------------------------ B. levers
    say(
        "\n== Part B: the other levers, one at a time on the baseline (64 ch, 20 epochs), "
        "where each costs 1-4 baseline trainings =="
    )
    adopted, winners = {}, []
    resolution = stage(search, "Stage 3: resolution", baseline, [replace(baseline, image_size=42)])
    if resolution != baseline:
        resolution = stage(
            search, "Stage 3b: resolution", resolution, [replace(baseline, image_size=56)]
        )
        adopted["image_size"] = resolution.image_size
        winners.append(resolution)
    augmentation = stage(
        search,
        "Stage 4: augmentation",
        baseline,
        [replace(baseline, augmentation=a) for a in ("off", "strong")],
    )
    if augmentation != baseline:
        adopted["augmentation"] = augmentation.augmentation
        winners.append(augmentation)
    rotations = replace(baseline, rotations=True)
    if stage(search, "Stage 5: rotations as classes", baseline, [rotations]).rotations:
        adopted["rotations"] = True
        winners.append(rotations)
    distilled = replace(baseline, distill=True)
    if stage(search, "Stage 6: self-distillation", baseline, [distilled]).distill:
        adopted["distill"] = True
        winners.append(distilled)

    # ------------------------------------------------------------------ C. combination
    chosen = scale
    if adopted:
        # the full combination, then the levers together on the baseline, then each alone
        combined = [replace(scale, **adopted), replace(baseline, **adopted), *winners]
        combined = [r for r in dict.fromkeys(combined) if r != scale]
        say(f"\n== Part C: the scale of part A with the levers adopted in part B: {adopted} ==")
        chosen = stage(search, "Stage 7: combination", scale, combined)
        if chosen != scale:
            # the levers change the task (rotations: 4x the classes and steps), so the
            # epochs are tried again on the new incumbent, "given enough epochs"
            longer = replace(chosen, epochs=2 * chosen.epochs)
            chosen = stage(search, "Stage 7b: epochs, with the levers", chosen, [longer])

    # ------------------------------------------------------------------ D. seed check
    order = [scale, *winners, chosen]
    if adopted and affordable(search, replace(baseline, **adopted, seed=1)):
        lever = replace(baseline, **adopted)
        say(
            "\n== Seed check: a lever's gain could be its training seed's luck; the levers of "
            f"part B ({lever.label()}) again with seed 1, against the baseline's seed-1 twin =="
        )
        repeat = search.get(replace(lever, seed=1))
        say(HEADER)
        say("".ljust(34) + COLUMNS + "  " + COLUMNS)
        say(accuracy_line(search, twin))
        say(accuracy_line(search, repeat))
        say(difference_line("- baseline, seed 1", search.cells(repeat, twin)))
        say(difference_line("(seed 0: - baseline)", search.cells(search.get(lever), base)))
        say("  " + describe(search, repeat))
        order += [replace(baseline, seed=1), repeat.recipe]

    summary(search, base)
    finalists = [base] + [search.get(r) for r in dict.fromkeys(order) if r != baseline]
    confirmation(search, finalists, search.get(chosen), base)

    # ------------------------------------------------------------------ the recipe
    final = search.get(chosen)
    one, two = measure_speedup(search, chosen)
    load = os.getloadavg()[0]
    say(
        f"\n== The chosen recipe: {chosen.label()} ==\n{chosen.config()}\nimage size "
        f"{chosen.image_size} px, rotations as classes: {chosen.rotations}, self-distillation: "
        f"{chosen.distill}"
    )
    say(
        f"trained here in {final.meta['seconds']:.0f} s ({final.cpu_seconds:.0f} s CPU, 1 thread, "
        f"{final.cpu_seconds / len(final.history):.1f} s CPU per epoch) on 744 classes; "
        f"validation {final.history[-1]['validation_accuracy']:.1f}%"
    )
    say(
        f"one training step: {1000 * one:.0f} ms on 1 thread, {1000 * two:.0f} ms on 2 threads "
        f"({one / two:.2f}x; load average {load:.1f} while measured, so the README's idle "
        f"{README_SPEEDUP}x is used for the projection)"
    )
    for label, speedup in (("README's", README_SPEEDUP), ("measured", one / two)):
        say(
            f"projected on the full background (964 classes), 2 threads, {label} {speedup:.2f}x: "
            f"{final.shipped_minutes(speedup):.0f} min (budget {BUDGET_MINUTES:.0f})"
        )
    say(
        f"checkpoint {final.megabytes:.2f} MB here, {final.shipped_megabytes():.2f} MB with "
        f"964 classes (budget {BUDGET_MB:.0f} MB); {final.parameters:,} backbone parameters"
    )

    if args.block_episodes:
        lever_block_tuning(search, final, args.block_episodes)
    if search.left_out:
        say("\nleft out for the time budget: " + "; ".join(r.label() for r, _ in search.left_out))
    say(
        f"\ntrained in this run: {search.trained_now:.0f} s CPU; total "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
