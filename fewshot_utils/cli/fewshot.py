"""Command-line few-shot classification: ``evaluate``, ``benchmark`` and ``predict``.

Added to ``python -m fewshot_utils`` by :func:`add_subcommands`::

    python -m fewshot_utils evaluate --ways 5 --shots 1 --method finetune-all
    python -m fewshot_utils benchmark --episodes 1000 --markdown results/table.md
    python -m fewshot_utils predict --support my_support --query q1.png q2.jpg

``--checkpoint`` picks the backbone: the shipped one (the default), ``mine`` (your own
``checkpoints/conv4.pt``) or a file. The evaluation split is embedded once (with a
progress bar), then every episode runs on cached features.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fewshot_utils.cli.arguments import (
    add_common_arguments,
    add_method_arguments,
    backbone_from_arguments,
    dataset_from_arguments,
    method_from_arguments,
    parse_setting,
    set_threads,
    write_json,
)
from fewshot_utils.cli.checks import number
from fewshot_utils.cli.device_options import add_device_argument, device_from_arguments


def _evaluation_split(args: argparse.Namespace, pretrained, shots: int):
    """Load the dataset the arguments name: its evaluation split (no embedding yet). Every
    class must have ``shots + --queries`` images (an error names those that do not)."""
    dataset = dataset_from_arguments(args, image_size=pretrained.preprocessing.image_size)
    dataset.evaluation.require_images_per_class(
        shots + args.queries, f"{shots}-shot episodes with {args.queries} queries per class"
    )
    trained_on = pretrained.meta.get("dataset")
    if trained_on and trained_on != dataset.name:
        print(
            f"note: the backbone was pretrained on {trained_on}, evaluated here on {dataset.name}"
        )
    split = dataset.evaluation
    print(split.describe())
    return split


def _features(pretrained, split):
    """Embed the split once: ``features [I, d]``, on the backbone's device."""
    from fewshot_utils.models.conv4 import embed

    return embed(pretrained.backbone, split.images, pretrained.preprocessing, progress=True)


# ----------------------------------------------------------------------------
# The subcommands
# ----------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace) -> int:
    from fewshot_utils.fewshot.episodes import check_episodes, sample_episodes
    from fewshot_utils.fewshot.evaluation import evaluate

    set_threads(args)
    method = method_from_arguments(args)  # errors before the slow part
    device = device_from_arguments(args)
    pretrained = backbone_from_arguments(args).to(device)
    split = _evaluation_split(args, pretrained, args.shots)
    check_episodes(split.labels, args.ways, args.shots, args.queries, args.episodes)
    features = _features(pretrained, split)
    episodes = sample_episodes(
        split.labels, args.ways, args.shots, args.queries, args.episodes, args.seed
    )
    result = evaluate(features, episodes, method, seed=args.seed, progress=True)
    print(f"{result.method}, {result.ways}-way {result.shots}-shot, {result.episodes} episodes:")
    print(f"{result.accuracy:.2f} ± {result.ci95:.2f} % ({result.seconds:.1f} s)")
    write_json(args.json, result.to_dict())
    return 0


def run_benchmark_command(args: argparse.Namespace) -> int:
    from fewshot_utils.fewshot.benchmark import (
        LAKE,
        SETTINGS,
        Setting,
        alphabets_allow,
        check_settings,
        run_benchmark,
    )
    from fewshot_utils.storage import write_text_atomically
    from fewshot_utils.viz.tables import benchmark_table

    set_threads(args)
    device = device_from_arguments(args)
    pretrained = backbone_from_arguments(args).to(device)
    settings = [Setting.of(setting) for setting in args.settings or SETTINGS]
    split = _evaluation_split(args, pretrained, max(s.shots for s in settings))
    alphabets = split.alphabet_index()
    if args.settings is None:
        if alphabets_allow(alphabets, split.labels, LAKE, args.queries):
            settings.append(LAKE)
        else:
            print(f"note: no alphabet of {split.describe()} has 20 classes: {LAKE.name} left out")
    settings = check_settings(None, split.labels, settings, args.queries, args.episodes, alphabets)
    features = _features(pretrained, split)
    start = time.perf_counter()
    rows = run_benchmark(
        features,
        split.labels,
        episodes=args.episodes,
        alphabets=alphabets,
        settings=settings,
        methods=args.methods,
        queries=args.queries,
        seed=args.seed,
        progress=True,
    )
    table = benchmark_table(rows)
    print(table)
    print(benchmark_table(rows, paired=True))
    print(f"benchmark done in {time.perf_counter() - start:.0f} s")
    write_json(args.json, rows)
    if args.markdown is not None:
        write_text_atomically(
            table
            + "\nPaired difference to the prototype classifier (points):\n\n"
            + benchmark_table(rows, paired=True),
            args.markdown,
        )
        print(f"wrote {args.markdown}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from fewshot_utils.fewshot.predict import predict

    set_threads(args)
    method = method_from_arguments(args)
    device = device_from_arguments(args)
    pretrained = backbone_from_arguments(args).to(device)
    results = predict(pretrained, args.support, args.query, method=method, seed=args.seed)
    for result in results:
        ranked = sorted(result["probabilities"].items(), key=lambda item: -item[1])
        probabilities = ", ".join(f"{name} {p:.2f}" for name, p in ranked)
        print(f"{result['query']}: {result['predicted']}  ({probabilities})")
    for note in predict_notes(method, results):
        print(f"note: {note}")
    write_json(args.json, results)
    return 0


def predict_notes(method, results: list[dict]) -> list[str]:
    """What a learner should know to read ``predict``'s numbers: probabilities that look like
    guessing because of the scale, and answers that depend on the other queries."""
    from fewshot_utils.fewshot.methods import resolve_method
    from fewshot_utils.fewshot.prototypes import PrototypeMethod

    name, method = resolve_method(method)
    notes = []
    classes = len(results[0]["probabilities"])
    top = max(max(result["probabilities"].values()) for result in results)
    if isinstance(method, PrototypeMethod) and method.scale < 10 and top - 1 / classes < 0.25:
        whose = " (Shusen Wang's lecture's)" if method.scale == 1 else ""
        notes.append(
            f"the probabilities are close to 1/{classes} because the prototype classifier's "
            f"scale is s = {method.scale:g}{whose}: its logits are cosines, in [-1, 1]. "
            "The ranking is what counts; --scale 10 makes the probabilities sharper without "
            "changing which class wins"
        )
    if method.transductive:
        notes.append(
            f"{name} is transductive: its entropy term looked at all {len(results)} queries "
            "together, so a query's answer can change with the other queries given; "
            "classify one query at a time, or use --method finetune-cosine, for answers "
            "that depend on that query alone"
        )
    return notes


def add_subcommands(subparsers) -> None:
    """Add ``evaluate``, ``benchmark`` and ``predict`` to argparse ``add_subparsers()``."""
    from fewshot_utils.fewshot.methods import METHOD_KEYS

    evaluate = subparsers.add_parser(
        "evaluate", help="accuracy ± 95%% CI of one method over N-way K-shot episodes"
    )
    add_common_arguments(evaluate)
    add_device_argument(evaluate)
    evaluate.add_argument("--ways", type=number("ways"), default=5)
    evaluate.add_argument("--shots", type=number("shots"), default=1)
    evaluate.add_argument("--queries", type=number("queries"), default=15, help="queries per class")
    evaluate.add_argument("--episodes", type=number("episodes"), default=1000)
    evaluate.add_argument("--seed", type=number("seed"), default=0)
    add_method_arguments(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    benchmark = subparsers.add_parser(
        "benchmark", help="every method in every setting on the same episodes"
    )
    add_common_arguments(benchmark)
    add_device_argument(benchmark)
    benchmark.add_argument("--episodes", type=number("episodes"), default=1000)
    benchmark.add_argument(
        "--queries", type=number("queries"), default=15, help="queries per class"
    )
    benchmark.add_argument("--seed", type=number("seed"), default=0)
    benchmark.add_argument(
        "--settings",
        nargs="+",
        type=parse_setting,
        default=None,
        metavar="WAYSxSHOTS",
        help="e.g. 5x1 20x5; 20x1a: 20-way 1-shot within one alphabet, Lake et al.'s task "
        "(default: 5x1 5x5 20x1 20x5 20x1a)",
    )
    benchmark.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHOD_KEYS),
        default=list(METHOD_KEYS),
        help="default: every method",
    )
    benchmark.add_argument("--markdown", type=Path, default=None, metavar="OUT")
    benchmark.set_defaults(run=run_benchmark_command)

    predict = subparsers.add_parser("predict", help="classify your own images")
    add_common_arguments(predict, data=False)
    add_device_argument(predict)
    predict.add_argument(
        "--support", type=Path, required=True, help="folder with one sub-folder of images per class"
    )
    predict.add_argument(
        "--query",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="the image file(s) to classify among the support folder's classes",
    )
    predict.add_argument(
        "--seed", type=number("seed"), default=0, help="seeds a random start (--init random only)"
    )
    add_method_arguments(predict)
    predict.set_defaults(run=run_predict)
