"""Choose the fine-tuning defaults on held-out *background* alphabets, never on the evaluation ones.

    python benchmarks/choose_fine_tuning.py [--epochs 20] [--rotations-as-classes]
        [--episodes 500] [--confirm 1000] [--backbone PATH]

What it does (the course's rule: hyper-parameters are chosen on a validation
split of the base alphabets):

1. loads Omniglot and splits the 30 background alphabets, seeded, into 24 for
   pretraining and 6 held out (the evaluation alphabets are never touched);
2. pretrains a *tuning backbone* on the 24 with the shipped backbone's recipe
   (``--epochs``, ``--channels``, ``--rotations-as-classes``), cached under ``--cache``
   so reruns skip it, and keeps the backbone after ``--weak-epoch`` epochs as a weak
   one; or takes ``--backbone``, a checkpoint pretrained on the same 24 alphabets
   (``benchmarks/choose_backbone.py`` writes them; its meta names the held-out ones);
3. embeds the held-out classes once and searches, on ``--episodes`` seeded
   *selection* episodes per setting (5/20-way, 1/5-shot), with paired differences
   against the prototype classifier:
   A. Adam's ``lr`` x ``steps`` for each fine-tuning method (λ = 0.1, s = 10),
   B. the entropy weight λ, C. the cosine scale s (fixed or learned);
4. checks the chosen settings on *fresh* confirmation episodes (another seed),
   against a first guess (lr 1e-2, 100 steps, λ = 0.1, s = 10) and the package's
   current defaults;
5. shows where the tricks help: a weak backbone, a random Conv4, and cross-domain
   (the tuning backbone on Glyphs' evaluation split);
6. shows the collapse a large entropy weight (λ = 1) brings in 20-way 1-shot, and
   whether the chosen settings avoid it.

``--all-three`` asks two more, separate questions instead (a few minutes) about all three
tricks at their joint setting (lr 0.1, λ = 0.1, s = 20, 100 steps): how few Adam steps they
need (the cheapest of ``STEPS`` as good as 100 steps by the rule below, on the selection
episodes, then each against 100 steps on fresh confirmation ones); and whether a joint
neighbour (lr x λ x s around it) clearly beats it (the rule of a method's own setting).

Scores are paired differences ``method - prototype`` in points on the same
episodes, 95% CI ``1.96 std / √E``. Selection rules (printed with the results):

* a method's *score* is its mean paired difference over the four settings;
* one shared (lr, steps) minimises the largest *regret* (best score of a method
  minus its score there) over the four methods that start from W = M;
* then the *cheapest* (fewest steps) setting that is as good for every one of those
  methods: within ``--speed-tolerance`` points of the minimax setting's score and
  significantly behind it (paired 95% CI) in no setting. Fine-tuning costs time
  in proportion to its steps, so equal accuracy for fewer steps is the better default;
* a method gets its own setting only if it *clearly needs it*: its own best is
  ahead of the shared one by more than ``--tolerance`` points on the mean AND
  significantly behind it in none of the four settings;
* λ and s are chosen the same way over the methods that use them; stage D checks
  the chosen λ and s with the neighbouring (lr, steps), and one step beyond the
  grid's edge where the choice lies on it (reported, not used).

Runs on 1 CPU thread (the course's 2-core budget, shared).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (before torch: sets OMP_WAIT_POLICY; puts the clone on sys.path)
import torch

from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.data.omniglot import ZIPS_VARIABLE
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import (
    episode_features,
    evaluate,
    paired_difference,
)
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune
from fewshot_utils.fewshot.methods import METHODS
from fewshot_utils.models.checkpoints import load_backbone, save_checkpoint
from fewshot_utils.models.conv4 import Conv4, embed
from fewshot_utils.training.supervised import PretrainingConfig, config_dict, pretrain

SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
SHARED_ZIPS = [
    Path("/work/shared/data/omniglot/images_background.zip"),
    Path("/work/shared/data/omniglot/images_evaluation.zip"),
]
#: A first run (lr 1e-3 .. 1e-1, 25 .. 100 steps) chose lr 1e-1, the grid's edge, and
#: never 1e-3; this grid moves one step up (3e-1) and adds a cheaper 10 steps.
LRS = (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
STEPS = (10, 25, 50, 100)
ENTROPY_WEIGHTS = (0.01, 0.03, 0.1, 0.3, 1.0)
SCALES = (5.0, 10.0, 20.0, "learned")  # "learned": learn_scale from s = 10
LEARNED_START = 10.0
#: A first guess to compare the chosen settings with.
START = {"lr": 1e-2, "steps": 100, "entropy_weight": 0.1, "scale": 10.0, "learn_scale": False}
FINE_TUNED = [name for name, method in METHODS.items() if isinstance(method, FineTuning)]
SELECTION_SEED, CONFIRMATION_SEED = 1, 2


def say(*args) -> None:
    print(*args, flush=True)


def method_config(name: str, s: dict) -> FineTuning:
    """The config of one of the course's methods with the settings ``s``."""
    optimiser = {"lr": s["lr"], "steps": s["steps"]}
    cosine = {"classifier": "cosine", "scale": s["scale"], "learn_scale": s["learn_scale"]}
    entropy = {"entropy_weight": s["entropy_weight"]}
    return {
        "fine-tune (random init)": lambda: FineTuning(init="random", **optimiser),
        "fine-tune (W = M)": lambda: FineTuning(**optimiser),
        "W = M + entropy": lambda: FineTuning(**entropy, **optimiser),
        "W = M + cosine": lambda: FineTuning(**cosine, **optimiser),
        "W = M + entropy + cosine": lambda: FineTuning(**entropy, **cosine, **optimiser),
    }[name]()


def scale_settings(value) -> dict:
    if value == "learned":
        return {"scale": LEARNED_START, "learn_scale": True}
    return {"scale": float(value), "learn_scale": False}


def scale_label(s: dict) -> str:
    return f"learned from {s['scale']:g}" if s["learn_scale"] else f"{s['scale']:g}"


class Bench:
    """Features and seeded episodes of one split; evaluates methods with paired differences."""

    def __init__(self, label: str, features: torch.Tensor, labels: torch.Tensor, episodes, seed):
        self.label = label
        self.features = features
        self.episodes = {
            (ways, shots): sample_episodes(labels, ways, shots, 15, episodes, seed=seed)
            for ways, shots in SETTINGS
        }
        self.cache: dict = {}
        self.seconds = 0.0
        self.prototype = {key: self.run(key, None) for key in SETTINGS}

    def run(self, key, config):
        """``evaluate`` of one config (``None``: prototype) in one setting, memoised."""
        memo = (key, None if config is None else repr(config))
        if memo not in self.cache:
            result = evaluate(self.features, self.episodes[key], config)
            self.seconds += result.seconds
            self.cache[memo] = result
        return self.cache[memo]

    def paired(self, config) -> dict:
        """Setting -> (paired difference vs prototype, accuracy result), plus the score."""
        cells = {}
        for key in SETTINGS:
            result = self.run(key, config)
            cells[key] = (paired_difference(result, self.prototype[key]), result)
        cells["score"] = sum(cells[key][0].mean for key in SETTINGS) / len(SETTINGS)
        cells["worst"] = min(cells[key][0].mean for key in SETTINGS)
        cells["seconds"] = sum(cells[key][1].seconds for key in SETTINGS)
        return cells


HEADER = "".join(f"{w}-way {k}-shot".rjust(15) for w, k in SETTINGS) + "    mean   worst     s"


def row(label: str, cells: dict, width: int = 30) -> str:
    text = label.ljust(width)
    for key in SETTINGS:
        difference = cells[key][0]
        text += f"{difference.mean:+7.2f} ±{difference.ci95:5.2f}  "
    return text + f"{cells['score']:+7.2f} {cells['worst']:+7.2f} {cells['seconds']:5.1f}"


def accuracy_row(label: str, bench: Bench, config, width: int = 30) -> str:
    text = label.ljust(width)
    for key in SETTINGS:
        result = bench.run(key, config)
        text += f"{result.accuracy:7.2f} ±{result.ci95:5.2f}  "
    return text


def minimax(candidates: list, scores: dict, methods: list) -> tuple:
    """The candidate with the smallest largest regret over ``methods``, and the regrets."""
    best = {m: max(scores[(m, c)] for c in candidates) for m in methods}
    regrets = {c: {m: best[m] - scores[(m, c)] for m in methods} for c in candidates}
    chosen = min(candidates, key=lambda c: (round(max(regrets[c].values()), 6), str(c)))
    return chosen, regrets


def own_or_shared(method, candidates, scores, shared, config_at, bench, tolerance, name_of):
    """The shared value, unless ``method`` *clearly needs its own*; prints why.

    Clearly needs its own: its best candidate is ahead of the shared one by more than
    ``tolerance`` points on the mean over the four settings AND not significantly
    behind it (paired 95% CI) in any setting: a value that trades one setting for
    another is no need.
    """
    best = max(candidates, key=lambda c: (scores[(method, c)], -candidates.index(c)))
    gain = scores[(method, best)] - scores[(method, shared)]
    if gain <= tolerance:
        say(f"{method}: shared {name_of(shared)} ({gain:.2f} points from its own best)")
        return shared
    differences = {
        key: paired_difference(
            bench.run(key, config_at(method, best)), bench.run(key, config_at(method, shared))
        )
        for key in SETTINGS
    }
    behind = [key for key, d in differences.items() if d.mean + d.ci95 < 0]
    detail = ", ".join(f"{w}w{k}s {d}" for (w, k), d in differences.items())
    if behind:
        where = ", ".join(f"{w}w{k}s" for w, k in behind)
        say(
            f"{method}: its best ({name_of(best)}) is +{gain:.2f} on the mean but "
            f"significantly behind the shared one in {where} ({detail}): shared {name_of(shared)}"
        )
        return shared
    say(
        f"{method} gets its own {name_of(best)}: +{gain:.2f} points on the mean, "
        f"behind nowhere ({best} - shared: {detail})"
    )
    return best


def cheapest_as_good(shared, candidates, scores, methods, config_at, bench, tolerance):
    """The (lr, steps) with the fewest steps that is as good as ``shared`` for every one
    of ``methods``: within ``tolerance`` points of its score, and significantly behind it
    (paired 95% CI) in no setting. Prints each cheaper candidate's verdict."""
    cheaper = [c for c in candidates if c[1] < shared[1]]

    def worst_loss(c):
        return max(scores[(m, shared)] - scores[(m, c)] for m in methods)

    say(
        f"\nCheaper than lr {shared[0]:g}, {shared[1]} steps and as good (within "
        f"{tolerance:g} points for each W = M method, behind in no setting)?"
    )
    for candidate in sorted(cheaper, key=lambda c: (c[1], worst_loss(c))):
        label = f"lr {candidate[0]:g}, {candidate[1]} steps"
        if worst_loss(candidate) > tolerance:
            say(f"  {label}: no, up to {worst_loss(candidate):.2f} points lower")
            continue
        behind = []
        for m in methods:
            for key in SETTINGS:
                d = paired_difference(
                    bench.run(key, config_at(m, candidate)), bench.run(key, config_at(m, shared))
                )
                if d.mean + d.ci95 < 0:
                    behind.append(f"{m} {key[0]}w{key[1]}s {d}")
        if behind:
            say(f"  {label}: no, significantly behind in {'; '.join(behind)}")
            continue
        say(f"  {label}: yes (at most {max(worst_loss(candidate), 0):.2f} points lower)")
        return candidate
    say("  none: keep it")
    return shared


def choose_shared_value(methods, values, with_value, name_of, bench, args):
    """Stages B and C: score each of ``values`` for each of ``methods`` (``with_value(m, v)``
    is the method's config), choose the minimax one, and give a method its own value only
    if it clearly needs it (:func:`own_or_shared`). Returns ``(shared, {method: value})``."""
    values = list(values)
    scores = {}
    stage = time.perf_counter()
    for name in methods:
        say(f"\n{name}".ljust(31) + HEADER)
        for value in values:
            cells = bench.paired(with_value(name, value))
            scores[(name, value)] = cells["score"]
            say(row(name_of(value), cells))
    shared, regrets = minimax(values, scores, methods)
    say(
        "\nregret (max over the methods): "
        + ", ".join(f"{name_of(v)}: {max(regrets[v].values()):.2f}" for v in values)
    )
    say(f"shared {name_of(shared)} (minimax)")
    own = {
        name: own_or_shared(
            name, values, scores, shared, with_value, bench, args.tolerance, name_of
        )
        for name in methods
    }
    say(f"(stage: {time.perf_counter() - stage:.0f} s)")
    return shared, own


#: ``--all-three``: the joint neighbourhood of all three tricks' setting, (lr, λ, s).
ALL_THREE_NEIGHBOURS = [
    (lr, weight, scale)
    for lr in (0.05, 0.1)
    for weight in (0.05, 0.1, 0.2)
    for scale in (15.0, 20.0, 30.0)
]


def check_all_three(select: Bench, confirm: Bench, args) -> None:
    """``--all-three``: the fewest of ``STEPS`` that do as well as the 100 steps the joint
    setting of all three tricks was chosen with (:func:`cheapest_as_good`, on the selection
    episodes), each against 100 steps on fresh episodes; then its joint neighbours."""
    tolerance = args.speed_tolerance
    name = "W = M + entropy + cosine"
    joint = METHODS[name]

    def config_at(_, candidate):
        return dataclasses.replace(joint, lr=candidate[0], steps=candidate[1])

    chosen_with = (joint.lr, 100)
    candidates = [(joint.lr, steps) for steps in STEPS]
    say(
        "\n-- Steps of all three tricks at their joint setting "
        f"({config_at(name, chosen_with).describe()}) --"
    )
    say("selection episodes, paired difference to the prototype classifier:")
    say("".ljust(30) + HEADER)
    scores = {}
    for candidate in candidates:
        cells = select.paired(config_at(name, candidate))
        scores[(name, candidate)] = cells["score"]
        say(row(f"{candidate[1]} steps", cells))
    chosen = cheapest_as_good(chosen_with, candidates, scores, [name], config_at, select, tolerance)
    say(f"\nchosen: {chosen[1]} steps")
    say(
        f"\nconfirmation episodes: each cheaper number of steps minus {chosen_with[1]} steps, "
        "paired:"
    )
    say("".ljust(30) + HEADER.rsplit("    mean", 1)[0])
    for candidate in candidates:
        if candidate == chosen_with:
            continue
        text = f"{candidate[1]} steps".ljust(30)
        for key in SETTINGS:
            difference = paired_difference(
                confirm.run(key, config_at(name, candidate)),
                confirm.run(key, config_at(name, chosen_with)),
            )
            text += f"{difference.mean:+7.2f} ±{difference.ci95:5.2f}  "
        say(text)
    say("accuracy (%), confirmation episodes:")
    for candidate in candidates:
        say(accuracy_row(f"{candidate[1]} steps", confirm, config_at(name, candidate)))

    say(f"\n-- Joint neighbours of all three tricks' setting ({chosen_with[1]} steps) --")
    say("selection episodes, paired difference to the prototype classifier:")
    say("".ljust(30) + HEADER)

    def neighbour(_, value):
        lr, weight, scale = value
        return dataclasses.replace(
            joint, lr=lr, entropy_weight=weight, scale=scale, steps=chosen_with[1]
        )

    scores = {}
    for value in ALL_THREE_NEIGHBOURS:
        cells = select.paired(neighbour(name, value))
        scores[(name, value)] = cells["score"]
        say(row(f"lr {value[0]:g}, λ = {value[1]:g}, s = {value[2]:g}", cells))
    current = (joint.lr, joint.entropy_weight, joint.scale)
    kept = own_or_shared(
        name,
        ALL_THREE_NEIGHBOURS,
        scores,
        current,
        neighbour,
        select,
        args.tolerance,
        lambda v: f"lr {v[0]:g}, λ = {v[1]:g}, s = {v[2]:g}",
    )
    say(f"all three tricks: lr {kept[0]:g}, λ = {kept[1]:g}, s = {kept[2]:g}")


# ----------------------------------------------------------------------------
# Data and backbones
# ----------------------------------------------------------------------------


def load_omniglot():
    if os.environ.get(ZIPS_VARIABLE) or not all(path.is_file() for path in SHARED_ZIPS):
        return load_dataset("omniglot")
    return load_dataset("omniglot", zips=SHARED_ZIPS)


def split_alphabets(background, held_out: int, seed: int):
    """(pretraining classes, held-out classes, held-out alphabet names), seeded."""
    alphabets = sorted(set(background.alphabets))
    order = torch.randperm(len(alphabets), generator=torch.Generator().manual_seed(seed))
    chosen = sorted(alphabets[i] for i in order[:held_out].tolist())
    held = [c for c, a in enumerate(background.alphabets) if a in chosen]
    kept = [c for c, a in enumerate(background.alphabets) if a not in chosen]
    return kept, held, chosen


def tuning_recipe(args) -> PretrainingConfig:
    """The shipped backbone's recipe, but for ``--epochs``, ``--channels``, rotations."""
    return PretrainingConfig(
        epochs=args.epochs,
        seed=args.seed,
        channels=args.channels,
        rotations_as_classes=args.rotations_as_classes,
    )


def say_backbone(description: str, backbone) -> None:
    """Print which tuning backbone is used, then its validation accuracy after each epoch."""
    say(description)
    say(
        "  validation accuracy by epoch: "
        + ", ".join(f"{row['validation_accuracy']:.1f}" for row in backbone.history)
    )


def given_backbone(args, held_alphabets):
    """``--backbone``: a checkpoint pretrained without the held-out alphabets."""
    backbone = load_backbone(args.backbone)
    if backbone.meta.get("held_out_alphabets") != held_alphabets:
        raise SystemExit(
            f"{args.backbone} was not pretrained with these alphabets held out "
            f"({', '.join(held_alphabets)}): its meta says "
            f"{backbone.meta.get('held_out_alphabets')}"
        )
    say_backbone(
        f"tuning backbone: {args.backbone} ({backbone.meta.get('command', '?')}; pretraining "
        f"took {backbone.meta.get('seconds', float('nan')):.0f} s): "
        f"{backbone.meta.get('pretraining', backbone.meta.get('recipe'))}",
        backbone,
    )
    return backbone, None


def tuning_backbones(split, args, held_alphabets):
    """The tuning backbone and its early snapshot: from the cache, or pretrained now."""
    if args.backbone:
        return given_backbone(args, held_alphabets)
    cache = Path(args.cache)
    config = tuning_recipe(args)
    rotations = "_rot" if config.rotations_as_classes else ""
    tag = f"e{args.epochs}_c{args.channels}{rotations}_h{args.held_out}_s{args.seed}"
    tag += f"_w{args.weak_epoch}"
    final_path, early_path = cache / f"tuning_conv4_{tag}.pt", cache / f"tuning_conv4_{tag}_weak.pt"
    if final_path.is_file() and early_path.is_file():
        final, early = load_backbone(final_path), load_backbone(early_path)
        same = final.meta.get("held_out_alphabets") == held_alphabets
        if same and final.meta.get("pretraining") == config_dict(config):
            say_backbone(
                f"tuning backbone: cached {final_path} (pretraining took "
                f"{final.meta['seconds']:.0f} s when it was made): {config}",
                final,
            )
            return final, early
        say(f"the cached {final_path} was made with other settings: pretraining again")
    say(f"pretraining the tuning backbone on {split.describe()}: {config}")
    snapshot = {}

    def keep_first(model, row):
        if row["epoch"] == args.weak_epoch:
            snapshot["backbone"] = copy.deepcopy(model.backbone).eval()
            snapshot["history"] = [dict(row)]
        say(
            f"  epoch {row['epoch']:2d}: loss {row['loss']:.3f}, validation "
            f"{row['validation_accuracy']:.1f}%, {row['seconds']:.1f} s"
        )

    start = time.perf_counter()
    result = pretrain(split, config, progress=False, after_epoch=keep_first)
    seconds = time.perf_counter() - start
    say(f"pretraining took {seconds:.0f} s")
    meta = {
        "held_out_alphabets": held_alphabets,
        "seconds": seconds,
        "pretraining": config_dict(config),
        "command": "benchmarks/choose_fine_tuning.py",
    }
    result.save(final_path, meta)
    save_checkpoint(
        early_path,
        snapshot["backbone"],
        result.preprocessing,
        snapshot["history"],
        {**meta, "snapshot": f"after epoch {args.weak_epoch}"},
    )
    return load_backbone(final_path), load_backbone(early_path)


def max_class_share(bench: Bench, config, key=(20, 1), limit: int = 200) -> float:
    """Mean over episodes of the % of queries given to the most-predicted class (1/N = none)."""
    episodes = bench.episodes[key][0:limit]
    support, query, _ = episode_features(bench.features, episodes)
    if config is None:
        from fewshot_utils.fewshot.prototypes import prototype_logits, prototypes

        predictions = prototype_logits(prototypes(support), query).argmax(-1)
    else:
        predictions = fine_tune(support, query, config, episode_index=torch.arange(limit)).predict(
            query
        )
    counts = torch.nn.functional.one_hot(predictions, key[0]).sum(dim=1)
    return float(100.0 * (counts.max(dim=1).values / predictions.shape[1]).float().mean())


# ----------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------


def add_split_and_episode_arguments(parser: argparse.ArgumentParser, seed_help: str) -> None:
    """``--held-out``, ``--seed``, ``--episodes``, ``--confirm``: the held-out alphabets
    and the selection and confirmation episodes, the same in ``choose_backbone.py``."""
    parser.add_argument("--held-out", type=int, default=6, help="background alphabets held out")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--episodes", type=int, default=500, help="selection episodes")
    parser.add_argument("--confirm", type=int, default=1000, help="confirmation episodes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="pretraining epochs")
    parser.add_argument("--channels", type=int, default=64, help="Conv4's width")
    parser.add_argument(
        "--rotations-as-classes", action="store_true", help="the tuning backbone's recipe"
    )
    parser.add_argument("--backbone", help="a tuning backbone pretrained elsewhere (see above)")
    parser.add_argument("--weak-epoch", type=int, default=2, help="weak backbone's epochs")
    add_split_and_episode_arguments(parser, seed_help="alphabet split and pretraining")
    parser.add_argument("--tolerance", type=float, default=0.15, help="regret, points")
    parser.add_argument(
        "--speed-tolerance", type=float, default=0.1, help="points a cheaper setting may lose"
    )
    parser.add_argument("--cache", default="/tmp/fewshot_choose_fine_tuning")
    parser.add_argument(
        "--all-three",
        action="store_true",
        help="only the two questions about all three tricks' setting (see above)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    say(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, "
        f"python {sys.version.split()[0]}"
    )

    dataset = load_omniglot()
    background = dataset.background
    del dataset  # the evaluation alphabets are not used anywhere below
    kept, held, held_alphabets = split_alphabets(background, args.held_out, args.seed)
    pretraining_split = background.subset_classes(kept)
    tuning_split = background.subset_classes(held)
    say(f"pretraining on {pretraining_split.describe()}")
    say(f"held out (tuning): {tuning_split.describe()}: {', '.join(held_alphabets)}")
    largest_ways = max(w for w, _ in SETTINGS)
    if tuning_split.num_classes < 5 * largest_ways:
        say(f"too few held-out classes for {largest_ways}-way episodes: raise --held-out")
        return 1

    final, early = tuning_backbones(pretraining_split, args, held_alphabets)
    history = final.history
    weak = (
        f"; after epoch {args.weak_epoch}: {early.history[0]['validation_accuracy']:.1f}%"
        if early is not None
        else ""
    )
    say(
        f"tuning backbone: {len(history)} epochs, validation accuracy (same classes, held-out "
        f"drawings) {history[-1]['validation_accuracy']:.1f}%{weak}"
    )
    features = embed(final.backbone, tuning_split.images, final.preprocessing)
    if args.all_three:
        select = Bench("held-out", features, tuning_split.labels, args.episodes, SELECTION_SEED)
        confirm = Bench("held-out", features, tuning_split.labels, args.confirm, CONFIRMATION_SEED)
        say(
            f"\nselection: {args.episodes} episodes per setting (seed {SELECTION_SEED}); "
            f"confirmation: {args.confirm} (seed {CONFIRMATION_SEED}); 15 queries per class"
        )
        check_all_three(select, confirm, args)
        say(f"\n(all: {time.perf_counter() - started:.0f} s)")
        return 0

    # ------------------------------------------------------------------ A
    select = Bench(
        "held-out background", features, tuning_split.labels, args.episodes, SELECTION_SEED
    )
    say(
        f"\n== Selection: {args.episodes} episodes per setting (seed {SELECTION_SEED}), "
        f"15 queries per class, held-out background classes =="
    )
    say("prototype accuracy (%):".ljust(30) + accuracy_row("", select, None, 0))
    say("\nCells: paired difference to the prototype classifier, points ± 95% CI.")
    say("\n-- A. Adam's lr x steps per method (λ = 0.1, s = 10) --")
    base = dict(START)
    optimisers = [(lr, steps) for lr in LRS for steps in STEPS]
    scores = {}
    stage = time.perf_counter()
    for name in FINE_TUNED:
        say(f"\n{name}".ljust(31) + HEADER)
        for lr, steps in optimisers:
            cells = select.paired(method_config(name, {**base, "lr": lr, "steps": steps}))
            scores[(name, (lr, steps))] = cells["score"]
            say(row(f"lr {lr:g}, {steps} steps", cells))
    say(f"(stage A: {time.perf_counter() - stage:.0f} s)")

    # The tricks are compared from W = M: the shared setting is the minimax over those
    # four methods; any method (random init, the foil of notebook 05, included) gets
    # its own setting only if it clearly needs it (see own_or_shared).
    core = [m for m in FINE_TUNED if m != "fine-tune (random init)"]
    shared, regrets = minimax(optimisers, scores, core)
    everyone, regrets_all = minimax(optimisers, scores, FINE_TUNED)
    say("\nRegret (best score of the method - its score there, points) of each (lr, steps):")
    say("".ljust(22) + "".join(name[:18].rjust(20) for name in FINE_TUNED) + "  max W=M")
    for candidate in optimisers:
        values = [regrets_all[candidate][m] for m in FINE_TUNED]
        marker = "  <- minimax over the W = M methods" if candidate == shared else ""
        say(
            f"lr {candidate[0]:g}, {candidate[1]} steps".ljust(22)
            + "".join(f"{v:20.2f}" for v in values)
            + f"{max(regrets[candidate].values()):9.2f}{marker}"
        )
    say(
        f"(minimax over all five methods would be lr {everyone[0]:g}, {everyone[1]} steps, "
        f"largest regret {max(regrets_all[everyone].values()):.2f})"
    )
    optimiser_of = lambda m, c: method_config(m, {**START, "lr": c[0], "steps": c[1]})  # noqa: E731
    shared = cheapest_as_good(
        shared, optimisers, scores, core, optimiser_of, select, args.speed_tolerance
    )
    settings = {}
    for m in FINE_TUNED:
        lr, steps = own_or_shared(
            m,
            optimisers,
            scores,
            shared,
            optimiser_of,
            select,
            args.tolerance,
            lambda c: f"lr {c[0]:g}, {c[1]} steps",
        )
        settings[m] = {**START, "lr": lr, "steps": steps}
    say(f"shared optimiser: Adam lr {shared[0]:g}, {shared[1]} steps")
    base = {**START, "lr": shared[0], "steps": shared[1]}

    # ------------------------------------------------------------------ B, C
    def with_lambda(m, weight):
        return method_config(m, {**settings[m], "entropy_weight": weight})

    def with_scale(m, value):
        return method_config(m, {**settings[m], **scale_settings(value)})

    say(f"\n-- B. entropy weight λ (lr {base['lr']:g}, {base['steps']} steps, s = 10) --")
    entropy_methods = ["W = M + entropy", "W = M + entropy + cosine"]
    chosen_lambda, own = choose_shared_value(
        entropy_methods, ENTROPY_WEIGHTS, with_lambda, lambda w: f"λ = {w:g}", select, args
    )
    for name, weight in own.items():
        settings[name]["entropy_weight"] = weight
    base["entropy_weight"] = chosen_lambda

    say(f"\n-- C. cosine scale s (lr {base['lr']:g}, {base['steps']} steps, λ as chosen) --")
    cosine_methods = ["W = M + cosine", "W = M + entropy + cosine"]
    chosen_scale, own = choose_shared_value(
        cosine_methods,
        SCALES,
        with_scale,
        lambda v: f"s = {scale_label(scale_settings(v))}",
        select,
        args,
    )
    for name, value in own.items():
        settings[name].update(scale_settings(value))
    base.update(scale_settings(chosen_scale))

    chosen = {name: method_config(name, settings[name]) for name in FINE_TUNED}

    # ------------------------------------------------------------------ D
    say(
        "\n-- D. interaction check: the chosen λ and s with the neighbouring (lr, steps), "
        "and one step beyond the grid where the choice is on its edge --"
    )
    say("(mean paired difference over the four settings, selection episodes)")
    neighbours = [
        (lr, steps)
        for lr in LRS
        for steps in STEPS
        if abs(LRS.index(lr) - LRS.index(base["lr"]))
        + abs(STEPS.index(steps) - STEPS.index(base["steps"]))
        == 1
    ]
    if base["lr"] == LRS[-1]:
        neighbours.append((round(base["lr"] * 10 / 3, 6), base["steps"]))
    if base["steps"] == STEPS[-1]:
        neighbours.append((base["lr"], 2 * base["steps"]))
    stage = time.perf_counter()
    for name in FINE_TUNED:
        if (settings[name]["lr"], settings[name]["steps"]) != (base["lr"], base["steps"]):
            continue
        here = select.paired(chosen[name])["score"]
        line = f"{name}: chosen {here:+.2f}"
        for lr, steps in neighbours:
            config = method_config(name, {**settings[name], "lr": lr, "steps": steps})
            outside = "*" if lr not in LRS or steps not in STEPS else ""
            line += f"; lr {lr:g} {steps} steps{outside} {select.paired(config)['score']:+.2f}"
        say(line)
    say("(* beyond the grid: reported, not used for the choice)")
    say(f"(stage D: {time.perf_counter() - stage:.0f} s)")
    say(f"\nselection evaluations: {select.seconds:.0f} s of evaluate() in all")

    # ------------------------------------------------------------------ confirmation
    say("\n== The chosen settings ==")
    for name in METHODS:
        say(
            f"{name}:".ljust(28)
            + ("W = M, b = 0, no fine-tuning" if name == "prototype" else chosen[name].describe())
        )
    start_configs = {name: method_config(name, START) for name in FINE_TUNED}
    confirm = Bench(
        "held-out background", features, tuning_split.labels, args.confirm, CONFIRMATION_SEED
    )
    say(
        f"\n== Confirmation on fresh episodes: {args.confirm} per setting (seed "
        f"{CONFIRMATION_SEED}), held-out background classes =="
    )
    say("accuracy (%)".ljust(30) + "".join(f"{w}-way {k}-shot".rjust(15) for w, k in SETTINGS))
    for name in METHODS:
        say(accuracy_row(name, confirm, chosen.get(name)))
    say("\npaired difference to prototype".ljust(31) + HEADER)
    for name in FINE_TUNED:
        say(row(name, confirm.paired(chosen[name])))
    say("\na first guess (lr 1e-2, 100 steps, λ = 0.1, s = 10):")
    for name in FINE_TUNED:
        say(row(name, confirm.paired(start_configs[name])))
    say("\nchosen - first guess, paired, points ± 95% CI:")
    for name in FINE_TUNED:
        line = f"{name}".ljust(30)
        for key in SETTINGS:
            d = paired_difference(
                confirm.run(key, chosen[name]), confirm.run(key, start_configs[name])
            )
            line += f"{d.mean:+7.2f} ±{d.ci95:5.2f}  "
        say(line)
    package = {name: config for name, config in METHODS.items() if config is not None}
    matches = all(package[name] == chosen[name] for name in FINE_TUNED)
    say(
        "\nfewshot_utils.fewshot.methods.METHODS "
        + ("matches the chosen settings." if matches else "differs from the chosen settings:")
    )
    if not matches:
        say("(paired difference to prototype with the package's config; then chosen - package)")
        for name in FINE_TUNED:
            if package[name] == chosen[name]:
                continue
            say(f"  {name}: package {package[name].describe()}")
            say(row("    package", confirm.paired(package[name])))
            line = "    chosen - package".ljust(30)
            for key in SETTINGS:
                d = paired_difference(
                    confirm.run(key, chosen[name]), confirm.run(key, package[name])
                )
                line += f"{d.mean:+7.2f} ±{d.ci95:5.2f}  "
            say(line)

    # ------------------------------------------------------------------ where tricks help
    say("\n== Where the tricks help (chosen settings; paired difference to prototype) ==")
    studies = [("tuning backbone, held-out background (as above)", confirm)]
    if early is None:
        say("(no weak backbone: --backbone came without an early snapshot)")
    else:
        early_features = embed(early.backbone, tuning_split.images, early.preprocessing)
        weak = Bench("weak", early_features, tuning_split.labels, args.confirm, CONFIRMATION_SEED)
        title = f"weak backbone: after {args.weak_epoch} of {len(history)} epochs of pretraining"
        studies.append((title, weak))
    torch.manual_seed(args.seed)
    random_backbone = Conv4(final.backbone.channels).eval()
    random_features = embed(random_backbone, tuning_split.images, final.preprocessing)
    studies.append(
        (
            "random Conv4 (no pretraining)",
            Bench("random", random_features, tuning_split.labels, args.confirm, CONFIRMATION_SEED),
        )
    )
    glyphs_start = time.perf_counter()
    glyphs = load_dataset("glyphs").evaluation
    say(f"Glyphs loaded in {time.perf_counter() - glyphs_start:.1f} s: {glyphs.describe()}")
    glyph_features = embed(final.backbone, glyphs.images, final.preprocessing)
    studies.append(
        (
            "cross-domain: tuning backbone on Glyphs' evaluation split",
            Bench("glyphs", glyph_features, glyphs.labels, args.confirm, CONFIRMATION_SEED),
        )
    )
    for title, bench in studies:
        stage = time.perf_counter()
        say(f"\n{title}, {args.confirm} episodes per setting")
        say("prototype accuracy (%)".ljust(30) + accuracy_row("", bench, None, 0))
        say("".ljust(30) + HEADER)
        for name in FINE_TUNED:
            say(row(name, bench.paired(chosen[name])))
        say(f"({time.perf_counter() - stage:.0f} s)")

    # ------------------------------------------------------------------ collapse
    say(
        "\n== The collapse with a large entropy weight: 20-way 1-shot, confirmation episodes; "
        "'top class' = % of an episode's queries given to its most-predicted class "
        f"(mean over the first 200 episodes; {100 / 20:.0f}% = balanced) =="
    )
    collapse = [
        ("prototype", None),
        (
            "linear, λ = 1, lr 1e-2, 100 steps",
            FineTuning(entropy_weight=1.0, lr=1e-2, steps=100),
        ),
        (
            "cosine s = 10, λ = 1, lr 1e-2, 100 steps",
            FineTuning(entropy_weight=1.0, lr=1e-2, steps=100, classifier="cosine", scale=10.0),
        ),
        (
            "linear, λ = 1, chosen lr and steps",
            method_config(
                "W = M + entropy",
                {**settings["W = M + entropy"], "entropy_weight": 1.0},
            ),
        ),
        (
            "cosine, λ = 1, chosen lr, steps and s",
            method_config(
                "W = M + entropy + cosine",
                {**settings["W = M + entropy + cosine"], "entropy_weight": 1.0},
            ),
        ),
        ("chosen W = M + entropy", chosen["W = M + entropy"]),
        ("chosen W = M + entropy + cosine", chosen["W = M + entropy + cosine"]),
    ]
    key = (20, 1)
    for label, config in collapse:
        result = confirm.run(key, config)
        text = f"{label}".ljust(48) + f"{result.accuracy:6.2f} ± {result.ci95:4.2f} %"
        if config is not None:
            d = paired_difference(result, confirm.prototype[key])
            text += f"   vs prototype {d.mean:+6.2f} ± {d.ci95:4.2f}"
        else:
            text += " " * 30
        say(text + f"   top class {max_class_share(confirm, config, key):5.1f}%")

    say(f"\ntotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
