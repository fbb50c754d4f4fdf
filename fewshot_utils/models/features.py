"""Features computed once per backbone: f(x) of a whole split, cached on disk.

Notebooks 03-08 all start from the same thing, the features ``[I, d]`` of the novel
classes under the shipped backbone. :func:`split_features` embeds a split once
(:func:`~fewshot_utils.models.conv4.embed`) and keeps the result in
``data/features/`` (:func:`fewshot_utils.paths.data_root`); later calls, in any notebook
or process, read it back in a fraction of a second.

The cache is keyed by *content*, not by names: a hash of the backbone's weights and
preprocessing, and of the split's images and labels. Retrain the backbone, or change the
data, and the key changes. Files are written atomically (a temporary file renamed into
place), so two notebooks building the same cache at once both succeed and the file is
always whole; a damaged file is rebuilt.
"""

from __future__ import annotations

import hashlib
import json

import torch

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.devices import module_device
from fewshot_utils.models.conv4 import embed
from fewshot_utils.paths import data_root
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically

KIND = "fewshot-features"
#: Bump when embedding changes in a way the key does not see.
FEATURES_VERSION = 1


def _hash_tensors(digest, tensors) -> None:
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def backbone_key(pretrained) -> str:
    """A hash of a pretrained backbone's weights and preprocessing (16 hex digits)."""
    digest = hashlib.sha1(f"v{FEATURES_VERSION}".encode())
    state = pretrained.backbone.state_dict()
    digest.update(json.dumps(sorted(state)).encode())
    _hash_tensors(digest, state.values())
    digest.update(json.dumps(pretrained.preprocessing.state(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def split_key(split: FewShotSplit) -> str:
    """A hash of a split's images and labels (16 hex digits)."""
    digest = hashlib.sha1(f"{split.dataset}/{split.split}".encode())
    _hash_tensors(digest, (split.images, split.labels))
    return digest.hexdigest()[:16]


def check_features(features, episodes=None) -> None:
    """``features`` must be a split's features, a finite float tensor ``[I, d]``;
    ``episodes``, when given, an :class:`~fewshot_utils.fewshot.episodes.Episodes`."""
    if not torch.is_tensor(features) or features.dim() != 2 or not features.is_floating_point():
        shape = tuple(features.shape) if hasattr(features, "shape") else type(features).__name__
        raise ValueError(
            f"features must be [I, d] (one row per image of the split), got shape {shape}: "
            "pass split_features(backbone, split) or embed(...)"
        )
    if not torch.isfinite(features).all():
        raise ValueError(
            "features contain NaN or infinity: the backbone that made them is broken "
            "(a training run that diverged?); embed again with another backbone"
        )
    if episodes is not None and not hasattr(episodes, "support"):
        raise ValueError(
            f"episodes must come from sample_episodes(...), got {type(episodes).__name__}"
        )


def split_features(
    pretrained,
    split: FewShotSplit,
    cache: bool = True,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """f(x) of every image of ``split``: ``float32 [I, d]``, from the disk cache when it has them.

    ``pretrained``: a :class:`~fewshot_utils.models.checkpoints.PretrainedBackbone` (or
    anything with ``.backbone`` and ``.preprocessing``). ``cache=False`` embeds and stores
    nothing. The features come back on the backbone's device; ``device`` moves the backbone
    there first. The cache holds CPU copies, so features cached on one device serve another.
    """
    if device is not None:
        pretrained.backbone.to(device)
    device = module_device(pretrained.backbone)
    if not cache:
        return embed(pretrained.backbone, split.images, pretrained.preprocessing, progress=progress)
    path = (
        data_root()
        / "features"
        / f"{split.dataset}-{split.split}-{split_key(split)}-{backbone_key(pretrained)}.pt"
    )
    if path.is_file():
        try:
            state = load_tensors(path, KIND, required=("features",))
            features = state["features"]
            if features.shape[0] == len(split):
                return features.to(device)
        except CorruptFileError:
            pass  # rebuilt below
    features = embed(pretrained.backbone, split.images, pretrained.preprocessing, progress=progress)
    save_atomically({"kind": KIND, "features": features.cpu(), "split": split.describe()}, path)
    return features
