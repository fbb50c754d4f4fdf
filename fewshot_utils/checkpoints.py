"""Checkpoints: a pretrained backbone, how its images were prepared, and how it trained.

A checkpoint is a plain dict of tensors, numbers and strings, written atomically
and read with ``torch.load(..., weights_only=True)``:

* ``backbone``: Conv4's ``state_dict`` (f(x) only: the head is dropped);
* ``head``: the pretraining head's ``state_dict`` (kept to check base-class accuracy);
* ``preprocessing``: image size, inversion, normalisation (a
  :class:`~fewshot_utils.backbone.Preprocessing`);
* ``history``: one dict per epoch (loss, accuracies, seconds);
* ``meta``: dataset, classes, channels, the command and seed that made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from fewshot_utils.backbone import Conv4, Preprocessing
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically

KIND = "fewshot-checkpoint"
FORMAT_VERSION = 1
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "conv4_omniglot.pt"


@dataclass
class PretrainedBackbone:
    """f(x) ready to use: ``backbone`` in eval mode, with its ``preprocessing``."""

    backbone: Conv4
    preprocessing: Preprocessing
    history: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    head: nn.Linear | None = None
    path: Path | None = None

    @property
    def feature_dim(self) -> int:
        return self.backbone.feature_dim


def save_checkpoint(
    path: str | os.PathLike,
    backbone: Conv4,
    preprocessing: Preprocessing,
    history: list[dict] | None = None,
    meta: dict | None = None,
    head: nn.Linear | None = None,
) -> Path:
    """Write a checkpoint atomically (an interrupted save keeps the old file)."""
    state = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "backbone": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
        "channels": backbone.channels,
        "preprocessing": preprocessing.state(),
        "history": list(history or []),
        "meta": dict(meta or {}),
    }
    if head is not None:
        state["head"] = {k: v.detach().cpu() for k, v in head.state_dict().items()}
    return save_atomically(state, path)


def load_backbone(path: str | os.PathLike) -> PretrainedBackbone:
    """Read a checkpoint written by :func:`save_checkpoint`; f(x) comes back in eval mode.

    Raises ``FileNotFoundError`` for a missing file and
    :class:`~fewshot_utils.storage.CorruptFileError` for a damaged or foreign one.
    """
    path = Path(path)
    state = load_tensors(path, KIND, required=("backbone", "channels", "preprocessing"))
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CorruptFileError(
            f"{path} was written by a newer fewshot_utils (format "
            f"{state['format_version']}); update the package"
        )
    backbone = Conv4(channels=int(state["channels"]))
    try:
        backbone.load_state_dict(state["backbone"])
    except RuntimeError as error:
        raise CorruptFileError(
            f"{path}: the weights do not fit Conv4 ({str(error).splitlines()[0]})"
        ) from None
    backbone.eval()
    head = None
    if "head" in state:
        weight = state["head"]["weight"]
        head = nn.Linear(weight.shape[1], weight.shape[0])
        head.load_state_dict(state["head"])
    return PretrainedBackbone(
        backbone=backbone,
        preprocessing=Preprocessing(**state["preprocessing"]),
        history=list(state.get("history", [])),
        meta=dict(state.get("meta", {})),
        head=head,
        path=path,
    )


def find_backbone(own: str | os.PathLike = "checkpoints/conv4.pt") -> PretrainedBackbone:
    """The learner's own checkpoint when it exists, else the one shipped in ``data/``.

    Prints one line saying which, so a notebook shows where its features come from.
    """
    own = Path(own)
    if own.is_file():
        print(f"Using your own backbone from {own}")
        return load_backbone(own)
    print(f"Using the shipped backbone {SHIPPED_CHECKPOINT.name} (no {own} yet: see notebook 01)")
    return load_backbone(SHIPPED_CHECKPOINT)
