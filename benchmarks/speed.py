"""Speed: batched evaluation vs a per-episode loop, and vs easyfsl, on the same episodes.

    python benchmarks/speed.py [--episodes 1000] [--loop-episodes 1000] [--threads 1]
                               [--repeats 3]
                               [--checkpoint data/conv4_omniglot.pt | --random-backbone]
                               [--dataset omniglot] [--json speed.json] [--skip-easyfsl]
                               [--embed-batch-size 32] [--seed 0] [--cold-allocator]

A benchmark that prints figures, not a test. Both parts use the same seeded
episodes for every method compared and the same number of torch threads.

**Part 1, cached features** (20-way 5-shot, 15 queries, 100 Adam steps): the
evaluation split is embedded once; then :func:`fewshot_utils.fewshot.evaluation.evaluate`
(all episodes batched, chunk by chunk) is timed against
:func:`~fewshot_utils.fewshot.evaluation.evaluate_per_episode_loop` (one episode at a time,
:func:`~fewshot_utils.fewshot.fine_tuning.fine_tune_one_episode`, a fresh ``torch.optim.Adam``
per episode) for the fine-tuning methods, and their per-episode accuracies are
checked to agree.

**Part 2, from images, embedding included** (5-way 5-shot, 15 queries): ours =
embed the evaluation split once + batched ``evaluate`` (prototype and fine-tuning);
easyfsl = ``PrototypicalNetworks(backbone)`` and ``Finetune(backbone, ...)`` driven
episode by episode with our episodes, the way easyfsl's own ``evaluate`` does
(``model.eval()``, ``torch.no_grad()``, ``process_support_set(support_images,
support_labels)``, then ``model(query_images)``), images preprocessed with the same
``preprocessing.to_input``, the backbone and images stored channels-last as ``embed``
stores ours (Conv4 twice as fast on a CPU, for both sides alike). easyfsl's
``TaskSampler`` is not used (1.5.0's fails on current torch). easyfsl is not a
dependency of the course; install it beside torch with ``python -m pip install
--no-deps easyfsl`` (only ``easyfsl.methods`` is imported: it needs nothing but torch).

The per-episode loop and easyfsl can run on the first ``--loop-episodes`` episodes
only; their seconds are then scaled to ``--episodes`` (and marked so), their
accuracies are over those episodes. Each timed function is warmed up on 2 episodes
first (not counted), and the process's memory allocator is warmed up once for all
(see :func:`warm_allocator`; ``--cold-allocator`` to skip). Times are wall-clock;
the CPU time of the process is printed beside them (and kept in the JSON): on a
loaded machine it is the steadier figure.

Data: Omniglot's evaluation split (Lake's split) by default, found extracted under
``data/`` or in the zips of ``$FEWSHOT_OMNIGLOT_ZIPS``; ``--dataset glyphs`` runs offline.
The backbone: the shipped ``data/conv4_omniglot.pt``, ``--checkpoint PATH``, or
``--random-backbone`` (a seeded, untrained Conv4: the timings are the same, the
accuracies are not meaningful).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (before torch: sets OMP_WAIT_POLICY; puts the clone on sys.path)
import torch

from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.data.omniglot import ZIPS_VARIABLE, load_omniglot_split
from fewshot_utils.fewshot.episodes import Episodes, sample_episodes
from fewshot_utils.fewshot.evaluation import (
    EvaluationResult,
    evaluate,
    evaluate_per_episode_loop,
    mean_and_ci,
)
from fewshot_utils.fewshot.methods import resolve_method
from fewshot_utils.models.checkpoints import load_backbone
from fewshot_utils.models.conv4 import Conv4, Preprocessing, embed
from fewshot_utils.paths import SHIPPED_CHECKPOINT

QUERIES = 15
PART1_SETTING = (20, 5)
PART2_SETTING = (5, 5)
PART1_METHODS = ("finetune-init", "finetune-all")
PART2_METHODS = ("prototype", "finetune-init", "finetune-cosine", "finetune-all")
#: easyfsl's Finetune is closest to "W = M + cosine": Adam on the prototypes, cosine
#: logits times a temperature (our scale s), no bias, no entropy term.
EASYFSL_FINETUNE_LIKE = "finetune-cosine"
WARM_UP_EPISODES = 2
ALLOCATOR_WARM_UP_MB = 31  # below glibc's largest dynamic mmap threshold (32 MiB)
#: Images per forward pass when embedding. Measured here on one thread, before ``embed``
#: stored the backbone channels-last (which halves these): Conv4 costs
#: about 0.33 ms of user time per 28x28 image at any batch size from 16 to 1024, but
#: batches above about 64 add 0.2-0.4 ms of system time per image (their activations,
#: 20 MB and more, are mapped afresh each batch; ``embed``'s default of 1024 takes
#: 205 MB per layer), so 0.7 ms per image in all.
EMBED_BATCH_SIZE = 32
#: Seconds for 1000 20-way 5-shot episodes from cached features, batched, one thread
#: (fine-tuning from W = M; all three tricks).
TARGET_SECONDS = {"fine-tune (W = M)": 5.0, "W = M + entropy + cosine": 3.0}
TARGET_RATIO = 20.0
HOW_TO_INSTALL_EASYFSL = (
    f"{sys.executable} -m pip install --no-deps easyfsl  "
    "(beside the installed torch; only easyfsl.methods is used)"
)


def say(*args) -> None:
    print(*args, flush=True)


#: How many times each timed call runs; the fastest run is kept (``--repeats``).
REPEATS = 3


def timed(function, *args, **kwargs):
    """``(function(*args, **kwargs), wall-clock seconds, CPU seconds of this process)``.

    The call runs :data:`REPEATS` times and the fastest run's seconds are kept, as
    ``timeit`` does: the machine's background activity only ever adds time, so the
    minimum is the steadiest estimate of the computation's own cost (the same rule
    for every side compared). With one thread on a quiet machine wall-clock and CPU
    time agree; on a loaded one the wall-clock time grows with the load and the CPU
    time much less, so both are reported.
    """
    best_wall = best_cpu = math.inf
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        value = function(*args, **kwargs)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return value, best_wall, best_cpu


def scaled(seconds: float, timed_episodes: int, total: int) -> float:
    """Seconds for ``timed_episodes`` episodes scaled to ``total`` episodes."""
    return seconds * total / timed_episodes


def ratio_text(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def acc_text(accuracy: float, ci95: float) -> str:
    ci = "" if math.isnan(ci95) else f" ± {ci95:.2f}"
    return f"{accuracy:.2f}{ci}"


# ----------------------------------------------------------------------------
# Backbone and data
# ----------------------------------------------------------------------------


def get_backbone(args) -> tuple[torch.nn.Module, Preprocessing, str]:
    if args.random_backbone:
        torch.manual_seed(args.seed)
        backbone = Conv4().eval()
        return backbone, Preprocessing(), f"random Conv4 (seed {args.seed}, untrained)"
    path = Path(args.checkpoint)
    if not path.is_file():
        raise SystemExit(
            f"no checkpoint at {path}: pass --checkpoint PATH, or --random-backbone to time a "
            "random Conv4 (same speed, meaningless accuracies)"
        )
    pretrained = load_backbone(path)
    return pretrained.backbone.eval(), pretrained.preprocessing, f"checkpoint {path}"


def get_split(name: str):
    """The evaluation split (novel classes) of ``name``."""
    if name == "omniglot":
        return load_omniglot_split("evaluation")
    return load_dataset(name).evaluation


def warm_allocator(megabytes: int = ALLOCATOR_WARM_UP_MB) -> None:
    """Allocate and free one block of ``megabytes``, so that later blocks up to that size
    are reused from the heap instead of mapped and zero-filled afresh on every call.

    glibc's ``malloc`` serves large blocks with ``mmap`` and returns them on ``free``;
    freeing a mapped block raises its threshold to that block's size (at most 32 MiB).
    A cold process therefore page-faults its way through every batch's activations
    (here +50-60% CPU time, all of it system time, for our embedding and easyfsl's
    alike); a notebook that has pretrained or embedded before is already warm. One
    warm-up for both sides keeps the comparison about the computation. No effect
    elsewhere than glibc; ``--cold-allocator`` skips it.
    """
    block = torch.empty(megabytes * 2**20 // 4)
    del block


def timed_embed(backbone, images, preprocessing, batch_size: int):
    """``(features [I, d], wall seconds, CPU seconds)`` of embedding all ``images`` once."""
    embed(backbone, images[:batch_size], preprocessing, batch_size)  # warm-up
    return timed(embed, backbone, images, preprocessing, batch_size)


# ----------------------------------------------------------------------------
# Part 1: cached features, batched vs per-episode loop
# ----------------------------------------------------------------------------


def fine_tuning_gflop(method, ways: int, shots: int, queries: int, dim: int, episodes: int):
    """The matrix products fine-tuning must do, in GFLOP (10⁹ multiply-adds count 2).

    Per Adam step and episode, the logits of the ``NK`` support images (and of the ``NQ``
    queries when the entropy term needs them) are one product ``[N, d] x [d, NK (+ NQ)]``,
    ``2 N d (NK + NQ)`` FLOP, and the weights' gradient another of the same size; the
    element-wise work (softmax, Adam) is not counted. ``None`` for the prototype classifier.
    """
    steps = getattr(method, "steps", None)
    if steps is None:
        return None
    columns = ways * shots + (ways * queries if method.entropy_weight > 0 else 0)
    return 4 * ways * dim * columns * steps * episodes / 1e9


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one large float32 matrix product on ``threads`` threads: the machine's rate."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def part0(features, labels, args, peak: float) -> list[dict]:
    """Every fine-tuning method batched on the same episodes: seconds, GFLOP and GFLOP/s."""
    from fewshot_utils.fewshot.methods import METHOD_KEYS

    ways, shots = PART1_SETTING
    episodes = sample_episodes(labels, ways, shots, QUERIES, args.episodes, seed=args.seed)
    rows = []
    for key in METHOD_KEYS:
        name, method = resolve_method(key)
        evaluate(features, episodes[:WARM_UP_EPISODES], key, seed=args.seed)
        result, wall, cpu = timed(evaluate, features, episodes, key, seed=args.seed)
        gflop = fine_tuning_gflop(method, ways, shots, QUERIES, features.shape[1], args.episodes)
        row = {
            "method": name,
            "seconds": wall,
            "cpu_seconds": cpu,
            "gflop": gflop,
            "gflop_per_second": None if gflop is None else gflop / wall,
            "share_of_peak": None if gflop is None else gflop / wall / peak,
            "accuracy": result.accuracy,
            "ci95": result.ci95,
        }
        rows.append(row)
        rate = (
            ""
            if gflop is None
            else (
                f", {gflop:.0f} GFLOP at {row['gflop_per_second']:.1f} GFLOP/s "
                f"({100 * row['share_of_peak']:.0f}% of the machine's {peak:.0f})"
            )
        )
        say(
            f"  {name}: {wall:.2f} s (CPU {cpu:.2f} s){rate}; accuracy "
            f"{acc_text(result.accuracy, result.ci95)} %"
        )
    return rows


def agreement(batched: torch.Tensor, loop: torch.Tensor, one_query: float) -> dict:
    """How far the per-episode accuracies (%) of two evaluations of the same episodes differ.

    They agree when at most 1% of the episodes (at least 1) differ, by at most one
    query each: float summation order can flip a near-tie of two logits.
    """
    difference = (batched - loop).abs()
    differing = int((difference > 1e-9).sum())
    largest = float(difference.max())
    agree = differing <= max(1, len(loop) // 100) and largest <= one_query + 1e-9
    return {"differing_episodes": differing, "max_abs_difference": largest, "agree": agree}


def part1(features, labels, args, loop_episodes: int) -> list[dict]:
    ways, shots = PART1_SETTING
    episodes = sample_episodes(labels, ways, shots, QUERIES, args.episodes, seed=args.seed)
    subset = episodes[:loop_episodes]
    one_query = 100.0 / (ways * QUERIES)
    rows = []
    for key in PART1_METHODS:
        name, config = resolve_method(key)
        evaluate(features, episodes[:WARM_UP_EPISODES], key, seed=args.seed)
        batched, wall, cpu = timed(evaluate, features, episodes, key, seed=args.seed)
        evaluate_per_episode_loop(features, episodes[:WARM_UP_EPISODES], key, seed=args.seed)
        say(f"  {name}: batched {wall:.2f} s; per-episode loop on {loop_episodes} episodes ...")
        loop, loop_wall, loop_cpu = timed(
            evaluate_per_episode_loop, features, subset, key, seed=args.seed
        )
        check = agreement(batched.per_episode[:loop_episodes], loop.per_episode, one_query)
        row = {
            "part": 1,
            "method": name,
            "config": config.describe(),
            "ways": ways,
            "shots": shots,
            "episodes": args.episodes,
            "batched_seconds": wall,
            "batched_cpu_seconds": cpu,
            "loop_episodes": loop_episodes,
            "loop_seconds_timed": loop_wall,
            "loop_seconds": scaled(loop_wall, loop_episodes, args.episodes),
            "loop_cpu_seconds": scaled(loop_cpu, loop_episodes, args.episodes),
            "loop_scaled": loop_episodes != args.episodes,
            "accuracy": batched.accuracy,
            "ci95": batched.ci95,
            "loop_accuracy": loop.accuracy,
            "loop_ci95": loop.ci95,
            "batched_accuracy_on_loop_episodes": float(batched.per_episode[:loop_episodes].mean()),
            **check,
        }
        row["speedup"] = row["loop_seconds"] / wall
        row["speedup_cpu"] = row["loop_cpu_seconds"] / cpu
        rows.append(row)
        mark = " (scaled)" if row["loop_scaled"] else ""
        verdict = "agree" if check["agree"] else "DISAGREE"
        say(
            f"  {name}: batched {wall:.2f} s (CPU {cpu:.2f} s), loop {row['loop_seconds']:.1f} s"
            f"{mark} (CPU {row['loop_cpu_seconds']:.1f} s) -> {ratio_text(row['speedup'])} "
            f"(CPU {ratio_text(row['speedup_cpu'])}); accuracy "
            f"{acc_text(batched.accuracy, batched.ci95)} %; on the {loop_episodes} loop "
            f"episodes {row['batched_accuracy_on_loop_episodes']:.2f} % (batched) vs "
            f"{row['loop_accuracy']:.2f} % (loop): {verdict} ({check['differing_episodes']} "
            f"episodes differ, by at most {check['max_abs_difference']:.2f} points)"
        )
    return rows


# ----------------------------------------------------------------------------
# Part 2: from images, ours vs easyfsl
# ----------------------------------------------------------------------------


def import_easyfsl():
    """``(PrototypicalNetworks, Finetune, version)``, or ``None`` and how to install it."""
    try:
        import easyfsl
        from easyfsl.methods import Finetune, PrototypicalNetworks
    except ImportError as error:
        say(f"  easyfsl is not installed ({error}); skipping it. To include it:")
        say(f"    {HOW_TO_INSTALL_EASYFSL}")
        return None
    return PrototypicalNetworks, Finetune, getattr(easyfsl, "__version__", "?")


def channels_last(x):
    """A tensor or a module's weights stored channels-last, as ``embed`` stores the backbone."""
    if isinstance(x, torch.nn.Module):
        return x.to(memory_format=torch.channels_last)
    return x.contiguous(memory_format=torch.channels_last)


def run_easyfsl(model, images, episodes: Episodes, preprocessing) -> torch.Tensor:
    """easyfsl's ``evaluate_on_one_task`` over our episodes: per-episode accuracies (%).

    Gathering and preprocessing each episode's images is inside the loop (a
    DataLoader's job in easyfsl); it is small next to the backbone.
    """
    model.eval()
    ways, shots, queries = episodes.ways, episodes.shots, episodes.queries
    support_labels = torch.arange(ways).repeat_interleave(shots)
    query_labels = torch.arange(ways).repeat_interleave(queries)
    accuracies = []
    with torch.no_grad():
        for e in range(episodes.num_episodes):
            support = preprocessing.to_input(images[episodes.support[e].flatten()])
            queries = preprocessing.to_input(images[episodes.query[e].flatten()])
            support_images, query_images = channels_last(support), channels_last(queries)
            model.process_support_set(support_images, support_labels)
            scores = model(query_images).detach()
            right = scores.argmax(dim=1) == query_labels
            accuracies.append(100.0 * right.to(torch.float64).mean())
    return torch.stack(accuracies)


def part2(split, backbone, preprocessing, features, embedding, args, loop_episodes):
    """``embedding``: ``(wall, CPU)`` seconds of embedding the split once."""
    ways, shots = PART2_SETTING
    embed_wall, embed_cpu = embedding
    episodes = sample_episodes(split.labels, ways, shots, QUERIES, args.episodes, seed=args.seed)
    rows = []
    ours: dict[str, EvaluationResult] = {}
    for key in PART2_METHODS:
        name, config = resolve_method(key)
        evaluate(features, episodes[:WARM_UP_EPISODES], key, seed=args.seed)
        result, wall, cpu = timed(evaluate, features, episodes, key, seed=args.seed)
        ours[key] = result
        rows.append(
            {
                "part": 2,
                "who": "ours",
                "method": name,
                "config": config.describe(),
                "ways": ways,
                "shots": shots,
                "episodes": args.episodes,
                "embed_seconds": embed_wall,
                "evaluate_seconds": wall,
                "seconds": embed_wall + wall,
                "cpu_seconds": embed_cpu + cpu,
                "scaled": False,
                "accuracy": result.accuracy,
                "ci95": result.ci95,
            }
        )
        say(
            f"  ours, {name}: {embed_wall:.2f} s embedding + {wall:.2f} s evaluating = "
            f"{embed_wall + wall:.2f} s (CPU {embed_cpu + cpu:.2f} s); accuracy "
            f"{acc_text(result.accuracy, result.ci95)} %"
        )
    if args.skip_easyfsl:
        say("  easyfsl skipped (--skip-easyfsl)")
        return rows
    imported = import_easyfsl()
    if imported is None:
        return rows
    PrototypicalNetworks, Finetune, version = imported
    _, like = resolve_method(EASYFSL_FINETUNE_LIKE)
    say(
        f"  easyfsl {version}: Finetune(fine_tuning_steps={like.steps}, "
        f"fine_tuning_lr={like.lr:g}, temperature={like.scale:g}) = our steps, Adam lr and "
        "cosine scale s; it tunes the raw-mean prototypes, has no bias; "
        "PrototypicalNetworks: euclidean distance to raw-mean prototypes (ours: cosine)"
    )
    # Each gets its own copy (Finetune freezes the backbone it is given), stored
    # channels-last as ours is in ``embed``: the comparison is about the method, not the
    # memory layout, which halves Conv4's time for both sides alike.
    models = {
        "easyfsl PrototypicalNetworks": (
            "prototype",
            PrototypicalNetworks(channels_last(copy.deepcopy(backbone))),
        ),
        "easyfsl Finetune": (
            EASYFSL_FINETUNE_LIKE,
            Finetune(
                channels_last(copy.deepcopy(backbone)),
                fine_tuning_steps=like.steps,
                fine_tuning_lr=like.lr,
                temperature=like.scale,
            ),
        ),
    }
    subset = episodes[:loop_episodes]
    for label, (counterpart, model) in models.items():
        run_easyfsl(model, split.images, episodes[:WARM_UP_EPISODES], preprocessing)
        say(f"  {label} on {loop_episodes} episodes ...")
        per_episode, wall, cpu = timed(run_easyfsl, model, split.images, subset, preprocessing)
        accuracy, ci95 = mean_and_ci(per_episode)
        paired, paired_ci = mean_and_ci(ours[counterpart].per_episode[:loop_episodes] - per_episode)
        row = {
            "part": 2,
            "who": "easyfsl",
            "method": label,
            "config": (
                None
                if counterpart == "prototype"
                else f"{like.steps} steps of Adam (lr {like.lr:g}), temperature {like.scale:g}"
            ),
            "ways": ways,
            "shots": shots,
            "episodes": args.episodes,
            "loop_episodes": loop_episodes,
            "seconds_timed": wall,
            "seconds": scaled(wall, loop_episodes, args.episodes),
            "cpu_seconds": scaled(cpu, loop_episodes, args.episodes),
            "scaled": loop_episodes != args.episodes,
            "accuracy": accuracy,
            "ci95": ci95,
            "counterpart": resolve_method(counterpart)[0],
            "ours_minus_easyfsl": paired,
            "ours_minus_easyfsl_ci95": paired_ci,
        }
        rows.append(row)
        mark = " (scaled)" if row["scaled"] else ""
        say(
            f"  {label}: {row['seconds']:.1f} s{mark} (CPU {row['cpu_seconds']:.1f} s); accuracy "
            f"{acc_text(accuracy, ci95)} % on {loop_episodes} episodes; ours "
            f"({row['counterpart']}) minus easyfsl, paired: {paired:+.2f} ± {paired_ci:.2f} points"
        )
    easy = {row["method"]: row for row in rows if row["who"] == "easyfsl"}
    for row in rows:
        if row["who"] != "ours":
            continue
        reference = (
            "easyfsl PrototypicalNetworks" if row["method"] == "prototype" else "easyfsl Finetune"
        )
        row["speedup_vs"] = reference
        row["speedup"] = easy[reference]["seconds"] / row["seconds"]
        row["speedup_cpu"] = easy[reference]["cpu_seconds"] / row["cpu_seconds"]
        say(
            f"  ours, {row['method']}: {ratio_text(row['speedup'])} faster than {reference} "
            f"(CPU time: {ratio_text(row['speedup_cpu'])})"
        )
    return rows


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def gflop_table(part0_rows, peak: float, args) -> str:
    """Markdown: each method's seconds, GFLOP and GFLOP/s beside the machine's peak."""
    lines = [
        f"| method (20-way 5-shot, {args.episodes} episodes) | seconds | GFLOP | GFLOP/s | "
        "of peak | accuracy (%) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in part0_rows:
        rate = (
            ("—", "—", "—")
            if row["gflop"] is None
            else (
                f"{row['gflop']:.0f}",
                f"{row['gflop_per_second']:.1f}",
                f"{100 * row['share_of_peak']:.0f}%",
            )
        )
        lines.append(
            f"| {row['method']} | {row['seconds']:.2f} | {' | '.join(rate)} | "
            f"{acc_text(row['accuracy'], row['ci95'])} |"
        )
    lines.append(
        f"\nPeak: one 2048 x 2048 float32 product, {peak:.1f} GFLOP/s on {args.threads} "
        "thread(s). GFLOP counts the matrix products only (the logits and the weights' "
        "gradient at every Adam step)."
    )
    return "\n".join(lines)


def markdown_table(part1_rows, part2_rows, args, loop_episodes: int) -> str:
    star = "\\*"
    lines = [
        f"| setting | method | seconds / {args.episodes} episodes | accuracy (%) | speed-up |",
        "|---|---|---:|---:|---|",
    ]
    for row in part1_rows:
        setting = f"{row['ways']}-way {row['shots']}-shot, cached features"
        lines.append(
            f"| {setting} | {row['method']}, batched | {row['batched_seconds']:.2f} | "
            f"{acc_text(row['accuracy'], row['ci95'])} | **{ratio_text(row['speedup'])}** "
            "vs loop |"
        )
        mark = star if row["loop_scaled"] else ""
        lines.append(
            f"| {setting} | {row['method']}, per-episode loop | {row['loop_seconds']:.1f}{mark} | "
            f"{acc_text(row['loop_accuracy'], row['loop_ci95'])}{mark} | 1x |"
        )
    for row in part2_rows:
        setting = f"{row['ways']}-way {row['shots']}-shot, from images"
        if row["who"] == "ours":
            method = f"ours: {row['method']} (embed + evaluate)"
            speedup = "—"
            if "speedup" in row:
                versus = row["speedup_vs"].removeprefix("easyfsl ")
                speedup = f"**{ratio_text(row['speedup'])}** vs {versus}"
            seconds, mark = f"{row['seconds']:.2f}", ""
        else:
            method, speedup = row["method"], "1x"
            mark = star if row["scaled"] else ""
            seconds = f"{row['seconds']:.1f}{mark}"
        lines.append(
            f"| {setting} | {method} | {seconds} | {acc_text(row['accuracy'], row['ci95'])}{mark} "
            f"| {speedup} |"
        )
    settings = "; ".join(
        f"{name}: {method.describe()}"
        for name, method in (resolve_method(key) for key in PART1_METHODS)
    )
    notes = [
        "",
        f"Wall-clock seconds (fastest of {args.repeats} runs), {args.threads} torch "
        f"thread(s), torch {torch.__version__}, {platform.machine()}; 15 queries per class; "
        f"the same seeded episodes for every row of a setting; fine-tuning: {settings}.",
    ]
    if loop_episodes != args.episodes:
        notes.append(
            f"{star} timed on the first {loop_episodes} episodes and scaled to {args.episodes}; "
            f"accuracy over those {loop_episodes}."
        )
    return "\n".join(lines + notes)


def check_targets(part1_rows, part2_rows, args) -> list[str]:
    """The speed targets (1000 episodes, 1 thread, a quiet machine), as text."""

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    lines = []
    for row in part1_rows:
        seconds = row["batched_seconds"] * 1000 / args.episodes
        target = TARGET_SECONDS.get(row["method"], math.inf)
        lines.append(
            f"part 1, {row['method']}: {seconds:.2f} s per 1000 episodes "
            f"({verdict(seconds <= target)}: <= {target:g} s), "
            f"{ratio_text(row['speedup'])} vs the loop "
            f"({verdict(row['speedup'] >= TARGET_RATIO)}: >= {TARGET_RATIO:g}x); results "
            f"{'agree' if row['agree'] else 'DISAGREE'}"
        )
    for row in part2_rows:
        if row["who"] == "ours" and row.get("speedup_vs") == "easyfsl Finetune":
            lines.append(
                f"part 2, {row['method']}: {ratio_text(row['speedup'])} vs easyfsl Finetune "
                f"({verdict(row['speedup'] >= TARGET_RATIO)}: >= {TARGET_RATIO:g}x)"
            )
    return lines


def main() -> int:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", default=str(SHIPPED_CHECKPOINT), help="backbone (default: the shipped one)"
    )
    parser.add_argument(
        "--random-backbone", action="store_true", help="a seeded, untrained Conv4 instead"
    )
    parser.add_argument("--dataset", default="omniglot", choices=("omniglot", "glyphs"))
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument(
        "--loop-episodes",
        type=int,
        default=None,
        help="episodes for the per-episode loop and easyfsl, scaled to --episodes (default: all)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        help="runs of each timed call; the fastest is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--embed-batch-size",
        type=int,
        default=EMBED_BATCH_SIZE,
        help="images per forward pass when embedding the split once",
    )
    parser.add_argument("--seed", type=int, default=0, help="episodes (and a random backbone)")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--skip-easyfsl", action="store_true")
    parser.add_argument(
        "--cold-allocator",
        action="store_true",
        help="skip the allocator warm-up (see warm_allocator): page faults included",
    )
    args = parser.parse_args()
    if args.episodes < WARM_UP_EPISODES:
        parser.error(f"--episodes must be >= {WARM_UP_EPISODES}")
    loop_episodes = args.episodes if args.loop_episodes is None else args.loop_episodes
    if not 1 <= loop_episodes <= args.episodes:
        parser.error("--loop-episodes must be between 1 and --episodes")
    if args.threads < 1 or args.embed_batch_size < 1 or args.repeats < 1:
        parser.error("--threads, --repeats and --embed-batch-size must be >= 1")
    REPEATS = args.repeats

    torch.set_num_threads(args.threads)
    if not args.cold_allocator:
        warm_allocator()
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    say(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs, "
        f"load average {'n/a' if load is None else ', '.join(f'{x:.1f}' for x in load)}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, allocator "
        f"{'cold' if args.cold_allocator else 'warmed up'}"
    )
    backbone, preprocessing, backbone_text = get_backbone(args)
    say(f"backbone: {backbone_text}")
    if args.dataset == "omniglot" and not os.environ.get(ZIPS_VARIABLE):
        say(f"(if Omniglot is not under data/ yet, set {ZIPS_VARIABLE} to a folder of its zips)")
    split = get_split(args.dataset)
    say(f"data: {split.describe()}")
    features, embed_wall, embed_cpu = timed_embed(
        backbone, split.images, preprocessing, args.embed_batch_size
    )
    say(
        f"embedded {len(split.images)} images once, {args.embed_batch_size} per batch: "
        f"{embed_wall:.2f} s (CPU {embed_cpu:.2f} s), features {tuple(features.shape)}"
    )
    scaled_text = ", scaled" if loop_episodes != args.episodes else ""

    peak = matmul_peak(args.threads)
    ways, shots = PART1_SETTING
    say(
        f"\nPart 0: every method batched, cached features, {ways}-way {shots}-shot, "
        f"{args.episodes} episodes; the machine's own rate, one 2048 x 2048 float32 product "
        f"on {args.threads} thread(s): {peak:.1f} GFLOP/s"
    )
    part0_rows = part0(features, split.labels, args, peak)

    say(
        f"\nPart 1: cached features, {ways}-way {shots}-shot, {args.episodes} episodes, "
        f"batched vs per-episode loop ({loop_episodes} episodes{scaled_text})"
    )
    part1_rows = part1(features, split.labels, args, loop_episodes)

    ways, shots = PART2_SETTING
    say(
        f"\nPart 2: from images, embedding included, {ways}-way {shots}-shot, "
        f"{args.episodes} episodes (easyfsl on {loop_episodes}{scaled_text})"
    )
    part2_rows = part2(
        split, backbone, preprocessing, features, (embed_wall, embed_cpu), args, loop_episodes
    )

    table = markdown_table(part1_rows, part2_rows, args, loop_episodes)
    rates = gflop_table(part0_rows, peak, args)
    targets = check_targets(part1_rows, part2_rows, args)
    say("\n" + rates)
    say("\n" + table)
    say("\nSpeed targets (for 1000 episodes, 1 thread, a quiet machine):")
    for line in targets:
        say(f"  {line}")
    if args.json:
        report = {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "allocator_warmed_up": not args.cold_allocator,
            "backbone": backbone_text,
            "dataset": split.describe(),
            "episodes": args.episodes,
            "loop_episodes": loop_episodes,
            "seed": args.seed,
            "embed_batch_size": args.embed_batch_size,
            "embed_seconds": embed_wall,
            "embed_cpu_seconds": embed_cpu,
            "matmul_peak_gflop_per_second": peak,
            "part0": part0_rows,
            "part1": part1_rows,
            "part2": part2_rows,
            "targets": targets,
            "markdown": table,
            "markdown_gflop": rates,
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        say(f"wrote {args.json}")
    if not all(row["agree"] for row in part1_rows):
        say("\nthe batched evaluation and the per-episode loop DISAGREE: see part 1")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
