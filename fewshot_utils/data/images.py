"""Image files -> the course's images: one place where a picture on disk becomes a tensor.

The datasets' images are ``uint8 [H, W]`` grey levels, strokes bright (255) on a dark (0)
background: Omniglot's scans (dark ink on white paper) are inverted when loaded. Your own
drawings and photos are made to look the same way (:func:`load_image`):

1. :func:`open_image`: the file as an upright PIL image (EXIF rotation applied, the first
   frame of an animation, transparent parts on white paper);
2. :func:`dataset_image`: padded to a square with the background's grey, resized to
   ``image_size x image_size`` and inverted when its border is bright (paper) while the
   dataset's images were inverted.

A file that cannot be used (missing, a folder, empty, cut short, damaged, an SVG or
another format without pixels, more than :data:`MAX_PIXELS` pixels) raises ``ValueError``
naming the file, the problem and what to do.

Folders: :func:`image_files` lists the images of a folder (hidden files such as
``.DS_Store`` and folders such as ``.ipynb_checkpoints`` are skipped).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from fewshot_utils.validation import check_file_to_read

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


#: The most pixels an image may have: PIL's guard against decompression bombs (89.5 megapixels).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
RASTER_FORMATS = "PNG, JPEG, GIF, BMP, TIFF or WebP"


def _unreadable(path: Path, error: Exception) -> ValueError:
    """Why ``path`` cannot be read as an image, in the course's words, and what to do."""
    head = path.read_bytes()[:256].lstrip().lower() if path.is_file() else b""
    if path.suffix.lower() in (".svg", ".svgz") or head.startswith((b"<svg", b"<?xml")):
        problem = "is an SVG drawing (vector graphics), not a picture made of pixels"
        fix = "export it as PNG (e.g. Inkscape's 'Export PNG', or a screenshot)"
    elif path.suffix.lower() in (".pdf", ".eps", ".ps", ".heic", ".heif", ".avif", ".psd"):
        problem = f"is a {path.suffix[1:].upper()} file, which the course cannot read"
        fix = "save or export it as PNG or JPEG"
    elif isinstance(error, UnidentifiedImageError):
        problem = "is not an image file the course can read"
        fix = f"use a {RASTER_FORMATS} file"
    elif "truncated" in str(error):
        problem = "is cut short (truncated): part of the image data is missing"
        fix = "copy or save it again"
    else:
        problem = "is damaged: its image data cannot be decoded"
        fix = "save it again, or replace it"
    return ValueError(f"cannot read image {path}: it {problem}; {fix} (or remove it)")


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey images -> 8-bit ``"L"`` by their range (PIL's own conversion
    clips every value above 255 to white): ``I;16*`` and ``I`` as 16-bit (``/257``),
    ``F`` as ``[0, 1]`` when it fits there, else ``[0, 255]``."""
    if not image.mode.startswith(("I", "F")):
        return image
    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        array = array * 255.0 if array.size and np.nanmax(array) <= 1.0 else array
    elif image.mode.startswith("I;16") or (array.size and array.max() > 255):
        array = array / 257.0
    array = np.nan_to_num(array, nan=0.0).clip(0, 255).round().astype(np.uint8)
    return Image.fromarray(array, mode="L")


def open_image(path: str | os.PathLike, mode: str = "L") -> Image.Image:
    """An image file as an upright PIL image in ``mode`` (``"L"`` grey or ``"RGB"``).

    EXIF rotation is applied, an animation gives its first frame, transparent pixels
    become white paper, 16-bit images are scaled to 8 bits. Raises ``ValueError``
    saying what to do when the path is missing or a folder, the file is empty,
    truncated, damaged or not a raster image (SVG, PDF, ...), or has more than
    :data:`MAX_PIXELS` pixels (a decompression bomb, or a huge photo).
    """
    path = Path(path)
    check_file_to_read(
        path,
        folder=ValueError(
            f"image {path} is a folder, not an image file: give the image files inside it "
            "(a support set is a folder of class folders: --support)"
        ),
        missing=ValueError(f"image {path} does not exist: check the path"),
        empty=ValueError(
            f"cannot read image {path}: it is empty (0 bytes), it was not saved or copied "
            "completely; save it again (or remove it)"
        ),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValueError(_too_many_pixels(path)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise _unreadable(path, error) from None
    image = _to_8_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert(mode)


def _too_many_pixels(path: Path) -> str:
    most = MAX_PIXELS / 1e6
    size = f"more than {most:.0f} megapixels"
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # to read the header's size
    try:
        with Image.open(path) as image:  # the header only: nothing is decoded
            width, height = image.size
            size = f"{width} x {height} pixels ({width * height / 1e6:.0f} megapixels)"
    except Exception:  # noqa: BLE001 - the size is a nicety; the message says it all
        pass
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return (
        f"cannot read image {path}: it is {size}, more than the {most:.0f} megapixels the "
        f"course reads (a decompression bomb, or a photo too big for the memory); resize it "
        f"below {most:.0f} megapixels, e.g. to 1000 x 1000 pixels (the course shrinks every "
        "image to a few dozen pixels anyway)"
    )


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
