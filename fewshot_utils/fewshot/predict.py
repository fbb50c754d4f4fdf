"""Few-shot classification of your own images: a folder of labelled examples, then queries.

The support set is a folder with one sub-folder per class, named after it
(:func:`fewshot_utils.data.folders.read_class_folders`)::

    my_support/
        alpha/  a1.png  a2.jpg
        beta/   b1.png

:func:`predict` is the one way the course classifies files, for the ``predict``
command, the upload widget of notebook 08 and the photos of the lecture's pig, cow and
sheep: each image goes through a backbone's ``embed_files`` (a pretrained Conv4, whose
images are first made to look like the dataset's; or ResNet-18 for photos), then a
method of the course (default: the prototype classifier) is fitted on the support set.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import image_files
from fewshot_utils.fewshot.methods import resolve_method
from fewshot_utils.fewshot.prototypes import PrototypeMethod
from fewshot_utils.paths import EXAMPLE_IMAGES, FARM_ANIMALS, shown
from fewshot_utils.validation import check

#: The two methods the demos compare: the lecture's prototypes, and all three tricks.
DEMO_METHODS = ("prototype", "finetune-all")
FARM_CLASSES = ("pig", "cow", "sheep")


def example_folder(folder: str | os.PathLike = EXAMPLE_IMAGES) -> tuple[Path, list[Path]]:
    """``(support_dir, query_files)`` of a folder holding ``support/<class>/`` and ``queries/``
    (default: the course's example drawings, ``data/example_images/``)."""
    folder = Path(folder)
    return folder / "support", image_files(folder / "queries")


def predict(
    backbone,
    support_dir: str | os.PathLike,
    query_files,
    method="prototype",
    seed: int = 0,
    scale: float | None = None,
    device: str | torch.device | None = None,
) -> list[dict]:
    """Classify each query image among the support folder's classes.

    ``backbone``: anything with ``embed_files(paths) -> [B, d]``: a
    :class:`~fewshot_utils.models.checkpoints.PretrainedBackbone` (from
    ``find_backbone``) or a :class:`~fewshot_utils.models.resnet.PhotoBackbone`.
    ``method``: as in :func:`fewshot_utils.fewshot.evaluation.evaluate`. The prototype
    classifier takes any number of images per class; fine-tuning needs the same number
    in every class folder. A transductive method (the entropy term) fits on all the
    queries together, so a query's answer depends on the others given with it.
    ``scale``: the prototype classifier's ``s`` in ``softmax(s · M q̂)`` (default 1, the
    lecture's: cosines lie in [-1, 1], so the probabilities look almost uniform while
    ranking the classes right; s = 10 reads better). ``device``: where to embed and
    classify (the backbone is moved there, if it has ``.to``); default: where the backbone
    is. The folder, the query paths and the numbers are checked before any image is read;
    an image that cannot be read raises ``ValueError`` naming it and what to do. Returns
    one dict per query::

        {"query": "path/q.png", "predicted": "beta", "probabilities": {"alpha": 0.2, ...}}
    """
    _, fewshot_method = resolve_method(method)
    seed = check("seed", seed)
    if scale is not None:
        scale = check("scale", scale)
    if scale is not None and isinstance(fewshot_method, PrototypeMethod):
        fewshot_method = PrototypeMethod(scale)
    if device is not None:
        backbone.to(device)
    class_names, support_paths = read_class_folders(support_dir)
    if isinstance(query_files, (str, os.PathLike)):
        query_files = [query_files]
    query_files = [Path(path) for path in query_files]
    if not query_files:
        raise ValueError("no query images given: pass at least one image file to classify")
    for path in query_files:  # before any image is read or embedded
        if path.is_dir():
            raise ValueError(
                f"query {path} is a folder, not an image file: give the image files inside it"
            )
        if not path.is_file():
            raise ValueError(f"query image {path} does not exist: check the path")
    flat_support = [path for paths in support_paths for path in paths]
    support_features = backbone.embed_files(flat_support)
    query_features = backbone.embed_files(query_files)
    counts = [len(paths) for paths in support_paths]
    per_class = list(torch.split(support_features, counts))
    try:
        classifier = fewshot_method.fit_classes(per_class, query_features, seed=seed)
    except ValueError as error:
        listing = ", ".join(f"{name}: {n}" for name, n in zip(class_names, counts, strict=True))
        raise ValueError(f"{error} (the support folder has {listing})") from None
    probabilities = classifier.logits(query_features).softmax(dim=-1)
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


def compare_methods(
    backbone, support_dir, query_files, methods=DEMO_METHODS, seed: int = 0
) -> dict[str, list[dict]]:
    """Run :func:`predict` once per method: ``{method name: results}``.

    A fine-tuning method needs as many images in every class; when they differ it
    is left out with a one-line note (the prototype classifier always runs).
    Other errors (a missing folder, an unreadable image) are raised as
    ``ValueError`` saying what to fix.
    """
    compared = {}
    for method in methods:
        name, _ = resolve_method(method)
        try:
            compared[name] = predict(backbone, support_dir, query_files, method=method, seed=seed)
        except ValueError as error:
            if "same number of support images" not in str(error):
                raise
            print(f"{name} left out: {error}")
    return compared


def photos_missing(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not ready (``support/<class>/`` photos and ``queries/``), or ``None``."""
    support_dir, queries = example_folder(folder)
    try:
        read_class_folders(support_dir)
    except ValueError:
        return "no photos yet"
    if not queries:
        return "no query photo yet"
    return None


def farm_animals(
    folder: str | os.PathLike = FARM_ANIMALS,
    backbone=None,
    scale: float = 1.0,
    timeout: float | None = None,
) -> dict[str, list[dict]] | None:
    """The lecture's example: pig, cow, sheep photos, ResNet-18 as f(x), prototypes.

    Photos go in ``folder/support/pig/``, ``.../cow/``, ``.../sheep/`` (a few each;
    other class folders work too) and the photos to classify in ``folder/queries/``.
    When there are no photos, or the ImageNet weights cannot be had (offline),
    prints one line saying so and returns ``None``; otherwise returns
    ``{label: results}`` for :func:`fewshot_utils.viz.results.probability_figure`.
    ``backbone``: another photo backbone with ``embed_files`` (default: ResNet-18).
    """
    from fewshot_utils.models.resnet import (
        WEIGHTS_TIMEOUT_SECONDS,
        PhotoBackbone,
        WeightsUnavailable,
        load_resnet18,
    )

    problem = photos_missing(folder)
    if problem is not None:
        classes = ", ".join(f"support/{name}/" for name in FARM_CLASSES)
        print(
            f"Skipped: {problem} in {shown(folder)}/ (put a few photos in {classes} and the "
            "photo to classify in queries/, then run this cell again)."
        )
        return None
    if backbone is None:
        try:
            backbone = PhotoBackbone(load_resnet18(timeout=timeout or WEIGHTS_TIMEOUT_SECONDS))
        except WeightsUnavailable as error:
            print(f"Skipped: ResNet-18's ImageNet weights are not available here ({error}).")
            return None
    support_dir, queries = example_folder(folder)
    results = predict(backbone, support_dir, queries, scale=scale)
    return {f"prototype, ResNet-18 features (s = {scale:g})": results}
