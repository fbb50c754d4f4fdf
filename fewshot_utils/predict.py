"""Few-shot classification of your own images: a folder of labelled examples, then queries.

The support set is a folder with one sub-folder per class, named after it::

    my_support/
        alpha/  a1.png  a2.jpg
        beta/   b1.png
        gamma/  scan.jpeg

Any image size, colour or grey, works: each image is made to look like the
dataset's images (:func:`load_images`), embedded by the pretrained backbone,
and classified by a method of the course (default: the prototype classifier).
Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) and files that
are not images (by extension) are skipped; loose files directly in the support
folder are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from fewshot_utils.backbone import Preprocessing, embed
from fewshot_utils.evaluation import resolve_method
from fewshot_utils.fine_tuning import fine_tune
from fewshot_utils.prototypes import prototype_probabilities, prototypes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SUPPORT_LAYOUT = "one sub-folder per class holding its images (e.g. support/cat/1.png)"


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name.startswith("__")


def _is_image_file(path: Path) -> bool:
    return path.is_file() and not _is_hidden(path) and path.suffix.lower() in IMAGE_EXTENSIONS


def read_support_folder(directory: str | os.PathLike) -> tuple[list[str], list[list[Path]]]:
    """``(class_names, paths)``: the sorted class sub-folders and each one's sorted images.

    ``paths[n]`` lists the image files of class ``class_names[n]``. Raises
    ``ValueError`` saying what to fix for a missing folder, fewer than two
    classes, or a class folder without images.
    """
    directory = Path(directory)
    if not directory.is_dir():
        what = "is a file, not a folder" if directory.exists() else "does not exist"
        raise ValueError(f"support folder {directory} {what}: give a folder with {SUPPORT_LAYOUT}")
    class_folders = sorted(
        (path for path in directory.iterdir() if path.is_dir() and not _is_hidden(path)),
        key=lambda path: path.name,
    )
    if len(class_folders) < 2:
        found = ", ".join(path.name for path in class_folders) or "none"
        raise ValueError(
            f"support folder {directory} has {len(class_folders)} class sub-folder(s) "
            f"({found}); few-shot classification needs at least two: make {SUPPORT_LAYOUT}"
        )
    class_names, paths = [], []
    for folder in class_folders:
        images = sorted((p for p in folder.iterdir() if _is_image_file(p)), key=lambda p: p.name)
        if not images:
            raise ValueError(
                f"class folder {folder} has no images (looked for {', '.join(IMAGE_EXTENSIONS)}): "
                "add at least one image of the class or remove the folder"
            )
        class_names.append(folder.name)
        paths.append(images)
    return class_names, paths


def _open_grey(path: Path) -> Image.Image:
    """A grey-level PIL image; transparent pixels become white paper."""
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
    return image.convert("L")


def _border_mean(grey: np.ndarray) -> float:
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


def _pad_to_square(image: Image.Image, fill: int) -> Image.Image:
    """Pad the shorter side with the background grey so that resizing keeps the shape."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("L", (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def load_image(path: str | os.PathLike, preprocessing: Preprocessing) -> torch.Tensor:
    """One image file -> ``uint8 [image_size, image_size]``, the way the dataset's images look.

    Grey levels (transparency as white paper), padded to a square with the
    background's grey, then :func:`fewshot_utils.data.to_dataset_image`. The
    dataset has bright strokes on a dark background; an image whose border is
    bright (dark ink on paper, a photo or scan) is inverted when
    ``preprocessing.invert`` says the dataset's images were, one whose border is
    already dark is kept as it is.
    """
    from fewshot_utils.data import to_dataset_image

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image {path} does not exist: check the path")
    grey = _open_grey(path)
    border = _border_mean(np.asarray(grey))
    square = _pad_to_square(grey, round(border))
    invert = bool(preprocessing.invert) and border > 127.5
    return to_dataset_image(square, image_size=preprocessing.image_size, invert=invert)


def load_images(paths, preprocessing: Preprocessing) -> torch.Tensor:
    """Image files (any size, colour or grey) -> ``uint8 [B, H, W]``, see :func:`load_image`."""
    paths = list(paths)
    if not paths:
        raise ValueError("no image paths given: pass at least one image file")
    return torch.stack([load_image(path, preprocessing) for path in paths])


def predict(
    pretrained_backbone,
    support_dir: str | os.PathLike,
    query_files,
    method="prototype",
    seed: int = 0,
    scale: float = 1.0,
) -> list[dict]:
    """Classify each query image among the support folder's classes.

    ``pretrained_backbone``: from :func:`fewshot_utils.checkpoints.load_backbone`
    (anything with ``.backbone`` and ``.preprocessing``). ``method``: as in
    :func:`fewshot_utils.evaluation.evaluate`; the fine-tuning methods need the
    same number of images in every class folder, and use all the queries
    together for the entropy term. Returns one dict per query::

        {"query": "path/q.png", "predicted": "beta", "probabilities": {"alpha": 0.2, ...}}

    With the prototype classifier the probabilities are ``softmax(s · M q̂)``; with
    the lecture's ``scale`` s = 1 they rank the classes correctly but are far from
    confident (cosines lie in [-1, 1]); s = 10, the cosine classifier's scale,
    gives readable probabilities with the same ranking.
    """
    _, config = resolve_method(method)
    class_names, support_paths = read_support_folder(support_dir)
    query_files = [Path(path) for path in query_files]
    if not query_files:
        raise ValueError("no query images given: pass at least one image file to classify")
    preprocessing = pretrained_backbone.preprocessing
    backbone = pretrained_backbone.backbone

    flat_support = [path for paths in support_paths for path in paths]
    support_features = embed(backbone, load_images(flat_support, preprocessing), preprocessing)
    query_features = embed(backbone, load_images(query_files, preprocessing), preprocessing)
    counts = [len(paths) for paths in support_paths]

    if config is None:
        # Prototypes one class at a time: the classes may have different numbers of images.
        per_class = torch.split(support_features, counts)
        M = torch.cat([prototypes(features.unsqueeze(0)) for features in per_class])
        probabilities = prototype_probabilities(M, query_features, scale=scale)
    else:
        if len(set(counts)) != 1:
            listing = ", ".join(f"{name}: {n}" for name, n in zip(class_names, counts, strict=True))
            raise ValueError(
                f"fine-tuning needs the same number of support images in every class ({listing}); "
                "add or remove images, or use method='prototype'"
            )
        support = support_features.view(len(class_names), counts[0], -1)
        classifier = fine_tune(support, query_features, config, seed=seed)
        probabilities = classifier.probabilities(query_features)

    results = []
    for path, row in zip(query_files, probabilities.tolist(), strict=True):
        best = max(range(len(row)), key=row.__getitem__)
        results.append(
            {
                "query": str(path),
                "predicted": class_names[best],
                "probabilities": dict(zip(class_names, row, strict=True)),
            }
        )
    return results
