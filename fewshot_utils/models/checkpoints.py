"""Checkpoints: a pretrained backbone, how its images were prepared, and how it trained.

A checkpoint is a plain dict of tensors, numbers and strings, written atomically
and read with ``torch.load(..., weights_only=True)``:

* ``backbone``: Conv4's ``state_dict`` (f(x) only: the head is dropped);
* ``head``: the pretraining head's ``state_dict`` (kept to check base-class accuracy);
* ``preprocessing``: image size, inversion, normalisation (a
  :class:`~fewshot_utils.models.conv4.Preprocessing`);
* ``history``: one dict per epoch (loss, accuracies, seconds);
* ``meta``: dataset, classes, channels, the command and seed that made it.

The tensors are saved from CPU copies and read with ``map_location="cpu"``
(:func:`fewshot_utils.storage.load_tensors`), then moved to the device asked for, so a
checkpoint made on a GPU loads on a machine without one, and the reverse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from fewshot_utils.devices import as_device, module_device
from fewshot_utils.models.conv4 import Conv4, Preprocessing, embed
from fewshot_utils.paths import SHIPPED_CHECKPOINT, own_checkpoint, shown
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically

KIND = "fewshot-checkpoint"
FORMAT_VERSION = 1


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

    @property
    def device(self) -> torch.device:
        """Where f(x) (and so its features) live."""
        return module_device(self.backbone)

    def to(self, device: str | torch.device) -> PretrainedBackbone:
        """Move f(x) and the head to ``device`` (in place); returns ``self``."""
        self.backbone.to(device)
        if self.head is not None:
            self.head.to(device)
        return self

    def embed_files(self, paths) -> torch.Tensor:
        """Image files -> ``float32 [B, d]``: each made to look like the dataset's images
        (:meth:`~fewshot_utils.models.conv4.Preprocessing.load_files`), then f(x)."""
        return embed(self.backbone, self.preprocessing.load_files(paths), self.preprocessing)


def save_checkpoint(
    path: str | os.PathLike,
    backbone: Conv4,
    preprocessing: Preprocessing,
    history: list[dict] | None = None,
    meta: dict | None = None,
    head: nn.Linear | None = None,
    training_state: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (an interrupted save keeps the old file).

    ``training_state`` (optional): what an interrupted pretraining needs to go on
    (:mod:`fewshot_utils.training.resume`); loading a backbone ignores it."""
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
    if training_state is not None:
        state["training_state"] = training_state
    return save_atomically(state, path)


def load_backbone(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> PretrainedBackbone:
    """Read a checkpoint written by :func:`save_checkpoint`; f(x) comes back in eval mode.

    The weights are read onto the CPU whatever device wrote them, then moved to ``device``
    (default :func:`fewshot_utils.devices.default_device`, the CPU unless a notebook's
    ``setup`` or a command chose another).

    Raises ``FileNotFoundError`` for a missing file and
    :class:`~fewshot_utils.storage.CorruptFileError` for a folder, or an empty, damaged,
    cut-short or foreign file (a plain ``state_dict``, another program's dict), saying what
    to do. Loading never runs code from the file (``weights_only=True``).
    """
    path = Path(path)
    state = load_tensors(
        path,
        KIND,
        required=("backbone", "channels", "preprocessing"),
        hint="use 'shipped' (the course's backbone) or 'mine' (yours, from `pretrain`)",
    )
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CorruptFileError(
            f"{path} was written by a newer fewshot_utils (format "
            f"{state['format_version']}); update the package"
        )
    try:
        backbone = Conv4(channels=int(state["channels"]))
        backbone.load_state_dict(state["backbone"])
        preprocessing = Preprocessing(**state["preprocessing"])
        head = None
        if "head" in state:
            weight = state["head"]["weight"]
            head = nn.Linear(weight.shape[1], weight.shape[0])
            head.load_state_dict(state["head"])
    except (RuntimeError, TypeError, ValueError, KeyError, IndexError, AttributeError):
        raise CorruptFileError(
            f"{path} says it is a checkpoint, but its weights or settings do not fit Conv4: "
            "it is damaged or was edited; delete it and pretrain again"
        ) from None
    backbone.eval()
    return PretrainedBackbone(
        backbone=backbone,
        preprocessing=preprocessing,
        history=list(state.get("history", [])),
        meta=dict(state.get("meta", {})),
        head=head,
        path=path,
    ).to(as_device(device))


def find_backbone(
    which: str | os.PathLike = "shipped", device: str | torch.device | None = None
) -> PretrainedBackbone:
    """The backbone a notebook uses: ``"shipped"`` (the default), ``"mine"`` or a path.

    * ``"shipped"``: the Conv4 that ships with the course
      (:data:`~fewshot_utils.paths.SHIPPED_CHECKPOINT`);
    * ``"mine"``: your own, ``checkpoints/conv4.pt`` (:func:`~fewshot_utils.paths.own_checkpoint`),
      written by notebook 01 or ``python -m fewshot_utils pretrain``; raises
      ``FileNotFoundError`` saying how to make it when there is none yet;
    * any other string or path: that checkpoint file.

    Prints one line saying which, so a notebook shows where its features come from.
    ``device``: where f(x) goes, as in :func:`load_backbone`.
    """
    if which == "shipped":
        print(f"Using the shipped backbone {shown(SHIPPED_CHECKPOINT)}")
        return load_backbone(SHIPPED_CHECKPOINT, device)
    if which == "mine":
        path = own_checkpoint()
        if not path.is_file():
            raise FileNotFoundError(
                f"you have no backbone of your own yet ({shown(path)} does not exist): run "
                "notebook 01 to the end, or `python -m fewshot_utils pretrain`, then try again; "
                "find_backbone() uses the shipped one"
            )
        print(f"Using your own backbone {shown(path)}")
        return load_backbone(path, device)
    print(f"Using the backbone {shown(which)}")
    return load_backbone(which, device)
