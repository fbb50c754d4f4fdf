"""Image files -> the course's images: one place where a picture on disk becomes a tensor.

The datasets' images are ``uint8 [H, W]`` grey levels, strokes bright (255) on a dark (0)
background: Omniglot's scans (dark ink on white paper) are inverted when loaded. Your own
drawings and photos are made to look the same way (:func:`load_image`):

1. :func:`open_image`: the file as an upright PIL image (EXIF rotation applied, the first
   frame of an animation, transparent parts on white paper);
2. :func:`dataset_image`: padded to a square with the background's grey, resized to
   ``image_size x image_size`` and inverted when its border is bright (paper) while the
   dataset's images were inverted.

Folders: :func:`image_files` lists the images of a folder (hidden files such as
``.DS_Store`` and folders such as ``.ipynb_checkpoints`` are skipped).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_hidden(path: Path) -> bool:
    """``.DS_Store``, ``.ipynb_checkpoints``, ``__MACOSX``: not a learner's images."""
    return path.name.startswith(".") or path.name.startswith("__")


def is_image_file(path: Path) -> bool:
    """A visible file with an image extension (:data:`IMAGE_EXTENSIONS`)."""
    return path.is_file() and not is_hidden(path) and path.suffix.lower() in IMAGE_EXTENSIONS


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; ``[]`` if there is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((path for path in folder.iterdir() if is_image_file(path)), key=lambda p: p.name)


def to_dataset_image(image: Image.Image, image_size: int = 28, invert: bool = True) -> torch.Tensor:
    """A PIL image (any size, colour or grey) -> ``uint8 [image_size, image_size]``.

    Grey levels, an antialiased resize to ``image_size x image_size``, then
    ``255 - x`` when ``invert`` (dark strokes on paper -> bright strokes on dark).
    """
    grey = image.convert("L").resize((image_size, image_size), Image.Resampling.BOX)
    array = np.asarray(grey, dtype=np.uint8)
    if invert:
        array = 255 - array
    return torch.from_numpy(array.copy())


def open_image(path: str | os.PathLike, mode: str = "L") -> Image.Image:
    """An image file as an upright PIL image in ``mode`` (``"L"`` grey or ``"RGB"``).

    EXIF rotation is applied, transparent pixels become white paper. Raises
    ``ValueError`` saying what to do when the file cannot be read as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image {path} does not exist: check the path")
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(
            f"cannot read image {path} ({type(error).__name__}: {error}); "
            "replace or remove the file (PNG, JPEG and other common formats work)"
        ) from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert(mode)


def border_mean(grey: np.ndarray) -> float:
    """Mean grey level (0-255) of a frame 1/20 of the image wide around the edges."""
    height, width = grey.shape
    band = max(1, min(height, width) // 20)
    frame = np.concatenate(
        [
            grey[:band].ravel(),
            grey[-band:].ravel(),
            grey[:, :band].ravel(),
            grey[:, -band:].ravel(),
        ]
    )
    return float(frame.mean())


def pad_to_square(image: Image.Image, fill: int) -> Image.Image:
    """Pad the shorter side with the background grey so that resizing keeps the shape."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("L", (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def dataset_image(grey: Image.Image, image_size: int = 28, invert: bool = True) -> torch.Tensor:
    """A grey PIL image -> ``uint8 [image_size, image_size]``, the way the dataset's look.

    Padded to a square with the background's grey, then :func:`to_dataset_image`. The
    datasets have bright strokes on a dark background; an image whose border is bright
    (dark ink on paper, a photo or scan) is inverted when ``invert`` says the dataset's
    images were, one whose border is already dark is kept as it is.
    """
    border = border_mean(np.asarray(grey))
    square = pad_to_square(grey, round(border))
    return to_dataset_image(square, image_size, invert=bool(invert) and border > 127.5)


def load_image(path: str | os.PathLike, image_size: int = 28, invert: bool = True) -> torch.Tensor:
    """One image file -> ``uint8 [image_size, image_size]``: :func:`open_image`, then
    :func:`dataset_image`."""
    return dataset_image(open_image(path, "L"), image_size, invert)


def load_images(paths, image_size: int = 28, invert: bool = True) -> torch.Tensor:
    """Image files (any size, colour or grey) -> ``uint8 [B, H, W]``, see :func:`load_image`."""
    paths = list(paths)
    if not paths:
        raise ValueError("no image paths given: pass at least one image file")
    return torch.stack([load_image(path, image_size, invert) for path in paths])
