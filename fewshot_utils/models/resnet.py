"""A ResNet-18 pretrained on ImageNet as f(x), for colour photos (notebook 08's pig, cow, sheep).

The lecture's own example classifies photos with a network pretrained on a large
photo dataset. Conv4 trained on Omniglot knows only strokes; for photos the course
uses torchvision's ResNet-18 with its ImageNet weights, its classifier ``fc``
dropped (:class:`ResNetFeatures`): f(x) is the 512 numbers of its global average
pooling. :class:`PhotoBackbone` bundles it with the photos' preparation
(:class:`PhotoPreprocessing`) behind the same ``embed_files`` as
:class:`~fewshot_utils.models.checkpoints.PretrainedBackbone`, so
:func:`fewshot_utils.fewshot.predict.predict` serves both.

The weights (45 MB) are downloaded once; offline, :func:`load_resnet18` gives up after
a few seconds with :class:`WeightsUnavailable`.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch import nn

from fewshot_utils.data.images import open_image
from fewshot_utils.devices import module_device

#: torchvision's ResNet-18 ImageNet weights (``ResNet18_Weights.IMAGENET1K_V1``), 45 MB.
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
#: Seconds to wait for the weights' server before giving up (a workshop's Wi-Fi may be down).
WEIGHTS_TIMEOUT_SECONDS = 5.0


class WeightsUnavailable(RuntimeError):
    """The ImageNet weights are neither cached nor downloadable now."""


@dataclass
class PhotoPreprocessing:
    """A colour photo -> ResNet input, as for ImageNet: ``float32 [3, crop, crop]``.

    Resize the shorter side to ``resize`` pixels, take the central ``crop x
    crop`` square, scale to ``[0, 1]`` and normalise each channel with
    ImageNet's ``mean`` and ``std`` (what torchvision's weights expect).
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def load(self, path: str | os.PathLike) -> torch.Tensor:
        """One photo file -> ``float32 [3, crop, crop]``."""
        image = open_image(path, "RGB")
        width, height = image.size
        scale = self.resize / min(width, height)
        image = image.resize(
            (max(self.crop, round(width * scale)), max(self.crop, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
        width, height = image.size
        left, top = (width - self.crop) // 2, (height - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1) / 255
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def load_all(self, paths) -> torch.Tensor:
        """``[B, 3, crop, crop]``."""
        return torch.stack([self.load(path) for path in paths])


class ResNetFeatures(nn.Module):
    """f(x) = ResNet-18 without its last layer: ``float [B, 3, H, W] -> [B, 512]``.

    The ImageNet classifier ``fc`` (512 -> 1000 classes) is dropped, as the
    pretraining head is dropped from Conv4: what is left ends in global average
    pooling, the "penultimate layer" whose 512 numbers describe the photo.
    """

    feature_dim = 512

    def __init__(self, resnet: nn.Module | None = None) -> None:
        super().__init__()
        if resnet is None:
            from torchvision.models import resnet18

            resnet = resnet18(weights=None)
        resnet.fc = nn.Identity()
        self.resnet = resnet.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnet(x)


def _reachable(url: str, timeout: float) -> str | None:
    """``None`` if a TCP connection to the URL's server opens within ``timeout`` s, else why not.

    Name lookup has no timeout of its own, so the whole check runs in a thread
    that is given up on after ``timeout`` seconds.
    """
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: dict[str, str | None] = {}

    def connect() -> None:
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout):
                outcome["error"] = None
        except OSError as error:
            outcome["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" not in outcome:
        return f"no answer from {parsed.hostname} within {timeout:g} s"
    return outcome["error"]


def load_resnet18(
    url: str = RESNET18_URL,
    timeout: float = WEIGHTS_TIMEOUT_SECONDS,
    model_dir: str | os.PathLike | None = None,
) -> ResNetFeatures:
    """ResNet-18 with its ImageNet weights, as :class:`ResNetFeatures` (in eval mode).

    The weights (45 MB) are downloaded once into torch's cache (``model_dir``,
    default ``~/.cache/torch/hub/checkpoints``) and read from there afterwards.
    Offline, the server is given ``timeout`` seconds to answer, then
    :class:`WeightsUnavailable` is raised; a download that stalls for ``timeout``
    seconds also gives up.
    """
    from torchvision.models import resnet18

    if model_dir is None:
        model_dir = Path(torch.hub.get_dir()) / "checkpoints"
    cached = Path(model_dir) / Path(urlparse(url).path).name
    if not cached.is_file():
        problem = _reachable(url, timeout)
        if problem is not None:
            raise WeightsUnavailable(f"cannot reach {urlparse(url).hostname} ({problem})")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        state = torch.hub.load_state_dict_from_url(
            url, model_dir=str(model_dir), map_location="cpu", progress=not cached.is_file()
        )
    except Exception as error:  # network errors, a truncated or foreign file
        raise WeightsUnavailable(f"could not get {url} ({type(error).__name__}: {error})") from None
    finally:
        socket.setdefaulttimeout(previous)
    model = resnet18(weights=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise WeightsUnavailable(f"{url} does not hold ResNet-18 weights ({error})") from None
    return ResNetFeatures(model)


@torch.no_grad()
def photo_features(
    extractor: nn.Module, paths, preprocessing: PhotoPreprocessing | None = None, batch: int = 16
) -> torch.Tensor:
    """Features of photo files: ``[B, 512]`` for ResNet-18 (``extractor`` in eval mode), on
    the extractor's device (each batch of photos is moved there)."""
    preprocessing = preprocessing or PhotoPreprocessing()
    paths = list(paths)
    extractor.eval()
    device = module_device(extractor)
    chunks = [
        extractor(preprocessing.load_all(paths[start : start + batch]).to(device))
        for start in range(0, len(paths), batch)
    ]
    return torch.cat(chunks)


@dataclass
class PhotoBackbone:
    """A photo f(x) ready to use: ``extractor`` (e.g. :class:`ResNetFeatures`) and how photos
    become its input; ``embed_files(paths)`` as for a pretrained Conv4."""

    extractor: nn.Module
    preprocessing: PhotoPreprocessing = field(default_factory=PhotoPreprocessing)
    name: str = "ResNet-18 features"

    def embed_files(self, paths) -> torch.Tensor:
        """Photo files -> ``float32 [B, d]`` features."""
        return photo_features(self.extractor, paths, self.preprocessing)

    def to(self, device: str | torch.device) -> PhotoBackbone:
        """Move the extractor to ``device`` (in place); returns ``self``."""
        self.extractor.to(device)
        return self
