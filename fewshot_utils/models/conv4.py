"""The backbone: Conv4, the feature extractor f(x), and how images become its input.

Conv4 (Vinyals et al. 2016; Snell et al. 2017) is four blocks of
``3x3 conv (64 channels) -> BatchNorm -> ReLU -> 2x2 max-pool``. A 28x28 image
shrinks 28 -> 14 -> 7 -> 3 -> 1, so the output is a 64-d feature vector:

    f(x): uint8 [B, 28, 28] image  ->  float [B, 64] feature

Pretraining adds a linear *head* ``[64] -> [C]`` over the ``C`` base classes
(:class:`fewshot_utils.training.supervised.PretrainingModel`); dropping the head
leaves f(x).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from fewshot_utils.data.images import load_images
from fewshot_utils.devices import module_device
from fewshot_utils.runtime import release_freed_memory


@dataclass
class Preprocessing:
    """How a uint8 image ``[H, W]`` (bright strokes on dark) becomes network input.

    ``x = (image / 255 - mean) / std``, shape ``[B, 1, image_size, image_size]``.
    ``invert`` records that the dataset's images were inverted (dark strokes on
    white paper turned into bright strokes on dark) when loaded; images from
    elsewhere (your own photos) must be turned the same way round.
    """

    image_size: int = 28
    invert: bool = True
    mean: float = 0.0
    std: float = 1.0

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8 [B, H, W]`` -> ``float32 [B, 1, H, W]``, normalised."""
        x = images.to(torch.float32).unsqueeze(1) / 255.0
        return (x - self.mean) / self.std

    def load_files(self, paths) -> torch.Tensor:
        """Image files -> ``uint8 [B, image_size, image_size]`` that look like the dataset's
        (:func:`fewshot_utils.data.images.load_image`: grey, square, inverted if on paper)."""
        return load_images(paths, self.image_size, self.invert)

    def state(self) -> dict:
        return asdict(self)


def fit_preprocessing(train_images: torch.Tensor) -> Preprocessing:
    """Normalisation fitted on the training images ``uint8 [I, H, W]``: their pixels'
    mean and standard deviation (in [0, 1], rounded to 4 decimals), inverted strokes."""
    pixels = train_images.to(torch.float32) / 255.0
    return Preprocessing(
        image_size=int(train_images.shape[-1]),
        invert=True,
        mean=round(pixels.mean().item(), 4),
        std=round(pixels.std().item(), 4),
    )


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU -> 2x2 max-pool: halves height and width."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class Conv4(nn.Module):
    """f(x): four conv blocks, ``float [B, 1, H, W] -> float [B, channels]`` for H = W = 28."""

    def __init__(self, channels: int = 64, in_channels: int = 1) -> None:
        super().__init__()
        self.channels = channels
        self.blocks = nn.Sequential(
            conv_block(in_channels, channels),
            conv_block(channels, channels),
            conv_block(channels, channels),
            conv_block(channels, channels),
        )

    @property
    def feature_dim(self) -> int:
        return self.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global average pooling keeps the output [B, channels] for inputs larger
        # than 28x28 too (for 28x28 the map is already 1x1).
        return self.blocks(x).mean(dim=(2, 3))


@torch.no_grad()
def embed(
    backbone: nn.Module,
    images: torch.Tensor,
    preprocessing: Preprocessing,
    batch_size: int = 64,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Features of many images: ``uint8 [I, H, W] -> float32 [I, d]``, in eval mode.

    The features come back on the backbone's device: ``device`` (default: where the
    backbone is) moves the backbone there first, and it stays there. The images may be
    anywhere (they stay on the CPU in the course); each batch is moved as it is embedded.

    Embed a split once and index the result with episodes' index tensors; this is
    what makes evaluating thousands of episodes fast. Small batches are as fast per
    image on a CPU and keep memory low (activations grow with the batch). The backbone is
    switched to *channels-last* storage (activations ``[B, C, H, W]`` stored pixel by
    pixel, channels innermost), as in pretraining, and stays so: the same numbers (to
    about 1e-5), and Conv4 runs faster on a CPU (the README's speed notes).
    """
    was_training = backbone.training
    if device is not None:
        backbone.to(device)
    device = module_device(backbone)
    backbone.eval().to(memory_format=torch.channels_last)
    chunks = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress):
        x = preprocessing.to_input(images[start : start + batch_size].to(device))
        chunks.append(backbone(x.contiguous(memory_format=torch.channels_last)))
    backbone.train(was_training)
    release_freed_memory()  # the batches' activations, kept for reuse until now
    if not chunks:
        return torch.empty(0, getattr(backbone, "feature_dim", 0), device=device)
    return torch.cat(chunks)
