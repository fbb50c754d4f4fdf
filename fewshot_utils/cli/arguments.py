"""What the commands share: their arguments, and how an argument becomes an object.

Every command that loads data takes ``--dataset``, ``--data-dir`` and ``--zips``; every
few-shot command takes ``--checkpoint``, ``--threads`` and ``--json``; the few-shot
methods take ``--method`` and the trick switches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from fewshot_utils.cli.checks import number, setting
from fewshot_utils.data.datasets import DATASETS, FOLDER
from fewshot_utils.data.folder_dataset import is_folder_name
from fewshot_utils.storage import write_text_atomically

TRICK_SWITCHES = ("init", "entropy_weight", "classifier", "scale", "learn_scale", "steps", "lr")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-dir`` and ``--zips``."""
    parser.add_argument(
        "--dataset",
        type=dataset_argument,
        default="auto",
        metavar="{" + ",".join(DATASETS) + f",{FOLDER}" + "}",
        help="auto (the default): Omniglot when it can be had, else the offline Glyphs; "
        f"{FOLDER}: your own, PATH/background/<class>/ and PATH/evaluation/<class>/ images",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where data lives (default: the repository's data/)",
    )
    parser.add_argument(
        "--zips",
        nargs="+",
        type=Path,
        default=None,
        help="local Omniglot zips (images_background.zip images_evaluation.zip)",
    )


def dataset_argument(text: str) -> str:
    """``--dataset``: one of :data:`~fewshot_utils.data.datasets.DATASETS` or ``folder:PATH``."""
    if text in DATASETS or (is_folder_name(text) and len(text) > len("folder:")):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice {text!r}: choose one of {', '.join(DATASETS)} or {FOLDER}"
    )


def dataset_from_arguments(args: argparse.Namespace, image_size: int = 28, progress: bool = True):
    """The dataset the arguments name, loaded (:func:`fewshot_utils.data.load_dataset`)."""
    from fewshot_utils.data.datasets import load_dataset

    return load_dataset(
        args.dataset, root=args.data_dir, zips=args.zips, image_size=image_size, progress=progress
    )


def add_common_arguments(parser: argparse.ArgumentParser, data: bool = True) -> None:
    """``--checkpoint``, the dataset arguments (when ``data``), ``--threads`` and ``--json``."""
    parser.add_argument(
        "--checkpoint",
        default="shipped",
        metavar="PATH",
        help="the pretrained backbone: 'shipped' (the default: data/conv4_omniglot.pt), "
        "'mine' (checkpoints/conv4.pt, yours from notebook 01 or `pretrain`) or a file",
    )
    if data:
        add_dataset_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="also write the results as JSON"
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads``: how many CPU threads torch uses (:func:`set_threads`)."""
    parser.add_argument(
        "--threads",
        type=number("threads"),
        default=None,
        help="torch threads (default: torch's choice)",
    )


def add_method_arguments(parser: argparse.ArgumentParser, default: str = "prototype") -> None:
    """``--method`` and the trick switches that change a fine-tuning method."""
    from fewshot_utils.fewshot.methods import METHOD_KEYS

    parser.add_argument(
        "--method",
        choices=list(METHOD_KEYS),
        default=default,
        help=f"the few-shot method (default: {default})",
    )
    tricks = parser.add_argument_group(
        "trick switches", "change the fine-tuning method's settings (for prototype: --scale only)"
    )
    tricks.add_argument(
        "--init", choices=["random", "prototypes"], default=None, help="start from W = M or random"
    )
    tricks.add_argument(
        "--entropy-weight",
        type=number("entropy_weight"),
        default=None,
        metavar="LAMBDA",
        help="λ, the weight of the query entropy (0: off)",
    )
    tricks.add_argument(
        "--classifier", choices=["linear", "cosine"], default=None, help="the classifier's head"
    )
    tricks.add_argument(
        "--scale",
        type=number("scale"),
        default=None,
        help="s, the cosine classifier's scale; with --method prototype, the s of "
        "softmax(s · M q̂), which sharpens the probabilities without changing the answers",
    )
    tricks.add_argument(
        "--learn-scale", action="store_true", default=None, help="learn s (cosine head only)"
    )
    tricks.add_argument(
        "--steps", type=number("steps"), default=None, help="Adam steps on the support set"
    )
    tricks.add_argument("--lr", type=number("lr"), default=None, help="Adam's learning rate")


def method_from_arguments(args: argparse.Namespace):
    """The ``--method`` with any trick switches applied: a few-shot method object."""
    from fewshot_utils.fewshot.fine_tuning import FineTuning
    from fewshot_utils.fewshot.methods import METHOD_KEYS, resolve_method
    from fewshot_utils.fewshot.prototypes import PrototypeMethod

    _, method = resolve_method(args.method)
    changes = {key: getattr(args, key) for key in TRICK_SWITCHES if getattr(args, key) is not None}
    if not changes:
        return method
    if isinstance(method, PrototypeMethod) and set(changes) == {"scale"}:
        return PrototypeMethod(changes["scale"])
    if not isinstance(method, FineTuning):
        flags = ", ".join("--" + key.replace("_", "-") for key in changes)
        fine_tuning = ", ".join(key for key in METHOD_KEYS if key != "prototype")
        raise ValueError(
            f"{flags} change a fine-tuning method's settings, but --method {args.method} "
            f"does not fine-tune: choose a fine-tuning method ({fine_tuning})"
        )
    return dataclasses.replace(method, **changes)


def set_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads``, if given."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def backbone_from_arguments(args: argparse.Namespace):
    """The ``--checkpoint`` loaded (:func:`fewshot_utils.models.find_backbone`)."""
    from fewshot_utils.models.checkpoints import find_backbone

    return find_backbone(args.checkpoint)


def write_json(path: Path | None, data) -> None:
    """Write ``data`` as JSON to ``path`` (if given), whole or not at all."""
    if path is None:
        return
    write_text_atomically(json.dumps(data, indent=2, ensure_ascii=False) + "\n", path)
    print(f"wrote {path}")


def parse_setting(text: str):
    """``"5x1"`` -> 5-way 1-shot; ``"20x1a"`` -> 20-way 1-shot within one alphabet
    (a :class:`~fewshot_utils.fewshot.benchmark.Setting`); ways and shots are checked
    (see :mod:`fewshot_utils.cli.checks`)."""
    from fewshot_utils.fewshot.benchmark import Setting

    lowered = text.lower().strip()
    within = lowered.endswith("a")
    ways, shots = setting(lowered.removesuffix("a"))
    return Setting(ways, shots, within_alphabet=within)
