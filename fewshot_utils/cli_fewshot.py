"""Command-line few-shot classification: ``evaluate``, ``benchmark`` and ``predict``.

Added to ``python -m fewshot_utils`` by :func:`add_subcommands`::

    python -m fewshot_utils evaluate --ways 5 --shots 1 --method finetune-all
    python -m fewshot_utils benchmark --episodes 1000 --markdown results/table.md
    python -m fewshot_utils predict --support my_support --query q1.png q2.jpg

Without ``--checkpoint`` the learner's own ``checkpoints/conv4.pt`` is used when
it exists, else the backbone shipped in ``data/``. The evaluation split is
embedded once (with a progress bar), then every episode runs on cached features.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from fewshot_utils.evaluation import METHOD_KEYS

TRICK_SWITCHES = ("init", "entropy_weight", "classifier", "scale", "learn_scale", "steps", "lr")


# ----------------------------------------------------------------------------
# Shared steps
# ----------------------------------------------------------------------------


def _set_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def _load_backbone(args: argparse.Namespace):
    from fewshot_utils.checkpoints import find_backbone, load_backbone

    if args.checkpoint is None:
        return find_backbone()
    return load_backbone(args.checkpoint)


def _evaluation_features(args: argparse.Namespace, pretrained):
    """Load the dataset and embed its evaluation split once: ``(features [I, d], labels [I])``."""
    from fewshot_utils.backbone import embed
    from fewshot_utils.data import load_dataset

    dataset = load_dataset(
        args.dataset,
        root=args.data_dir,
        zips=args.zips,
        image_size=pretrained.preprocessing.image_size,
        progress=True,
    )
    trained_on = pretrained.meta.get("dataset")
    if trained_on and trained_on != dataset.name:
        print(
            f"note: the backbone was pretrained on {trained_on}, evaluated here on {dataset.name}"
        )
    split = dataset.evaluation
    print(split.describe())
    features = embed(pretrained.backbone, split.images, pretrained.preprocessing, progress=True)
    return features, split.labels


def _method_from_arguments(args: argparse.Namespace):
    """The ``--method`` with any trick switches applied: a name, or a FineTuningConfig."""
    from fewshot_utils.evaluation import resolve_method

    name, config = resolve_method(args.method)
    changes = {key: getattr(args, key) for key in TRICK_SWITCHES if getattr(args, key) is not None}
    if not changes:
        return name
    if config is None:
        flags = ", ".join("--" + key.replace("_", "-") for key in changes)
        raise ValueError(
            f"{flags} change fine-tuning, but --method {args.method} does not fine-tune: "
            f"choose a fine-tuning method ({', '.join(k for k in METHOD_KEYS if k != 'prototype')})"
        )
    return dataclasses.replace(config, **changes)


def _write_json(path: Path | None, data) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def _add_common(parser: argparse.ArgumentParser, data: bool = True) -> None:
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="pretrained backbone (default: checkpoints/conv4.pt, else the shipped one)",
    )
    if data:
        from fewshot_utils.cli import add_dataset_arguments

        add_dataset_arguments(parser)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="write results as JSON"
    )


def _add_method(parser: argparse.ArgumentParser, default: str = "prototype") -> None:
    parser.add_argument(
        "--method", choices=list(METHOD_KEYS), default=default, help=f"default: {default}"
    )
    tricks = parser.add_argument_group(
        "trick switches", "override the fine-tuning method's settings (not for prototype)"
    )
    tricks.add_argument("--init", choices=["random", "prototypes"], default=None)
    tricks.add_argument("--entropy-weight", type=float, default=None, metavar="LAMBDA")
    tricks.add_argument("--classifier", choices=["linear", "cosine"], default=None)
    tricks.add_argument("--scale", type=float, default=None, help="s of the cosine classifier")
    tricks.add_argument("--learn-scale", action="store_true", default=None)
    tricks.add_argument("--steps", type=int, default=None, help="Adam steps")
    tricks.add_argument("--lr", type=float, default=None, help="Adam learning rate")


# ----------------------------------------------------------------------------
# The subcommands
# ----------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace) -> int:
    from fewshot_utils.episodes import sample_episodes
    from fewshot_utils.evaluation import evaluate

    _set_threads(args)
    method = _method_from_arguments(args)  # errors before the slow part
    pretrained = _load_backbone(args)
    features, labels = _evaluation_features(args, pretrained)
    episodes = sample_episodes(
        labels, args.ways, args.shots, args.queries, args.episodes, args.seed
    )
    result = evaluate(features, episodes, method, seed=args.seed, progress=True)
    print(f"{result.method}, {result.ways}-way {result.shots}-shot, {result.episodes} episodes:")
    print(f"{result.accuracy:.2f} ± {result.ci95:.2f} % ({result.seconds:.1f} s)")
    _write_json(args.json, result.to_dict())
    return 0


def _parse_setting(text: str) -> tuple[int, int]:
    try:
        ways, shots = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"setting {text!r} is not WAYSxSHOTS, e.g. 5x1 or 20x5"
        ) from None
    return ways, shots


def run_benchmark_command(args: argparse.Namespace) -> int:
    from fewshot_utils.benchmark import markdown_table, run_benchmark

    _set_threads(args)
    pretrained = _load_backbone(args)
    features, labels = _evaluation_features(args, pretrained)
    start = time.perf_counter()
    rows = run_benchmark(
        features,
        labels,
        episodes=args.episodes,
        settings=args.settings,
        methods=args.methods,
        queries=args.queries,
        seed=args.seed,
        progress=True,
    )
    table = markdown_table(rows)
    print(table)
    print(markdown_table(rows, paired=True))
    print(f"benchmark done in {time.perf_counter() - start:.0f} s")
    _write_json(args.json, rows)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(
            table
            + "\nPaired difference to the prototype classifier (points):\n\n"
            + markdown_table(rows, paired=True),
            encoding="utf-8",
        )
        print(f"wrote {args.markdown}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from fewshot_utils.predict import predict

    _set_threads(args)
    method = _method_from_arguments(args)
    pretrained = _load_backbone(args)
    results = predict(pretrained, args.support, args.query, method=method, seed=args.seed)
    for result in results:
        ranked = sorted(result["probabilities"].items(), key=lambda item: -item[1])
        probabilities = ", ".join(f"{name} {p:.2f}" for name, p in ranked)
        print(f"{result['query']}: {result['predicted']}  ({probabilities})")
    _write_json(args.json, results)
    return 0


def add_subcommands(subparsers) -> None:
    """Add ``evaluate``, ``benchmark`` and ``predict`` to argparse ``add_subparsers()``."""
    evaluate = subparsers.add_parser(
        "evaluate", help="accuracy ± 95%% CI of one method over N-way K-shot episodes"
    )
    _add_common(evaluate)
    evaluate.add_argument("--ways", type=int, default=5)
    evaluate.add_argument("--shots", type=int, default=1)
    evaluate.add_argument("--queries", type=int, default=15, help="queries per class")
    evaluate.add_argument("--episodes", type=int, default=1000)
    evaluate.add_argument("--seed", type=int, default=0)
    _add_method(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    benchmark = subparsers.add_parser(
        "benchmark", help="every method in every setting on the same episodes"
    )
    _add_common(benchmark)
    benchmark.add_argument("--episodes", type=int, default=1000)
    benchmark.add_argument("--queries", type=int, default=15, help="queries per class")
    benchmark.add_argument("--seed", type=int, default=0)
    benchmark.add_argument(
        "--settings",
        nargs="+",
        type=_parse_setting,
        default=[(5, 1), (5, 5), (20, 1), (20, 5)],
        metavar="WAYSxSHOTS",
        help="default: 5x1 5x5 20x1 20x5",
    )
    benchmark.add_argument(
        "--methods", nargs="+", choices=list(METHOD_KEYS), default=list(METHOD_KEYS)
    )
    benchmark.add_argument("--markdown", type=Path, default=None, metavar="OUT")
    benchmark.set_defaults(run=run_benchmark_command)

    predict = subparsers.add_parser("predict", help="classify your own images")
    _add_common(predict, data=False)
    predict.add_argument(
        "--support", type=Path, required=True, help="folder with one sub-folder of images per class"
    )
    predict.add_argument("--query", type=Path, nargs="+", required=True, metavar="FILE")
    predict.add_argument("--seed", type=int, default=0)
    _add_method(predict)
    predict.set_defaults(run=run_predict)
