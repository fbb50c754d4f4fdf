"""Your own images: a support set from files or uploads, a query, and the class probabilities.

Everything here ends in the same code as the ``predict`` command
(:func:`fewshot_utils.predict.predict`): a support *folder* with one sub-folder
per class, and query image files. Three ways in:

* **a folder on disk**, e.g. the shipped examples :data:`EXAMPLE_IMAGES`
  (``support/<class>/*.jpg`` and ``queries/*.jpg``, see ``data/example_images/README.md``):
  :func:`example_images`, :func:`compare_methods`;
* **uploads** in the notebook (:func:`upload_widget`): ipywidgets' ``FileUpload``
  hands over bytes; :func:`uploaded_files` reads them, :func:`add_to_support`
  collects them per class, and :func:`classify_uploads` writes them into a
  temporary folder of that layout and calls :func:`compare_methods`;
* **photos with an ImageNet backbone**: f(x) = a pretrained ResNet-18 up to its
  global average pooling (512-d, :class:`ResNetFeatures`), colour photos
  prepared as for ImageNet (:class:`PhotoPreprocessing`), and the same
  prototype classifier (:func:`predict_photos`; :func:`farm_animals` is the
  notebook's cell: pig, cow and sheep).

:func:`probability_figure` draws each query with one bar per class, for one or
several methods side by side; :func:`support_figure` shows a support folder, as
photographed or as the backbone sees it.

The widget's callbacks only call these plain functions, which are tested in
``tests/test_your_images.py`` (callbacks never run in tests or on GitHub).
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from fewshot_utils.evaluation import resolve_method
from fewshot_utils.inspection import RIGHT, WRONG
from fewshot_utils.predict import IMAGE_EXTENSIONS, load_image, predict, read_support_folder
from fewshot_utils.prototypes import prototype_probabilities, prototypes

REPOSITORY = Path(__file__).resolve().parent.parent
#: The shipped example drawings: ``support/<class>/*.jpg`` and ``queries/<class>.jpg``.
EXAMPLE_IMAGES = REPOSITORY / "data" / "example_images"
#: Where a learner puts photos for the ResNet-18 example:
#: ``support/{pig,cow,sheep}/`` and ``queries/``.
FARM_ANIMALS = REPOSITORY / "data" / "farm_animals"
FARM_CLASSES = ("pig", "cow", "sheep")

#: The two methods the demos compare: the lecture's prototypes, and all three tricks.
DEMO_METHODS = ("prototype", "finetune-all")

#: torchvision's ResNet-18 ImageNet weights (``ResNet18_Weights.IMAGENET1K_V1``), 45 MB.
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
#: Seconds to wait for the weights' server before giving up (a workshop's Wi-Fi may be down).
WEIGHTS_TIMEOUT_SECONDS = 5.0

PREDICTED = "tab:blue"


# ----------------------------------------------------------------------------
# Folders of images
# ----------------------------------------------------------------------------


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder`` (sorted; hidden files skipped); ``[]`` if none."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith((".", "__"))
        and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def example_images(folder: str | os.PathLike = EXAMPLE_IMAGES) -> tuple[Path, list[Path]]:
    """``(support_dir, query_files)`` of a folder holding ``support/<class>/`` and ``queries/``."""
    folder = Path(folder)
    return folder / "support", image_files(folder / "queries")


def true_class(query: str | os.PathLike, class_names) -> str | None:
    """The query's class when its file is named after one (``queries/cow.jpg`` -> ``"cow"``)."""
    stem = Path(query).stem
    return stem if stem in class_names else None


def method_label(method) -> str:
    """How a method is named in figures, with the scale of its softmax."""
    name, config = resolve_method(method)
    if config is None:
        return f"{name} (s = 1)"
    if config.classifier == "cosine":
        return f"{name} (s = {config.scale:g})"
    return name


def compare_methods(
    pretrained, support_dir, query_files, methods=DEMO_METHODS, seed: int = 0
) -> dict[str, list[dict]]:
    """Run :func:`fewshot_utils.predict.predict` once per method: ``{label: results}``.

    A fine-tuning method needs as many images in every class; when they differ it
    is left out with a one-line note (the prototype classifier always runs).
    Other errors (a missing folder, an unreadable image) are raised as
    ``ValueError`` saying what to fix.
    """
    compared = {}
    for method in methods:
        try:
            compared[method_label(method)] = predict(
                pretrained, support_dir, query_files, method=method, seed=seed
            )
        except ValueError as error:
            if "same number of support images" not in str(error):
                raise
            print(f"{method_label(method)} left out: {error}")
    return compared


# ----------------------------------------------------------------------------
# Uploads: bytes -> files in the support-folder layout
# ----------------------------------------------------------------------------


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """``[(file name, bytes)]`` from a ``FileUpload.value`` (ipywidgets 8 or 7).

    ipywidgets 8 gives a tuple of dicts with ``name`` and ``content`` (a
    ``memoryview``); ipywidgets 7 a dict ``{name: {"content": bytes, ...}}``.
    """
    if not value:
        return []
    if isinstance(value, Mapping):
        items = [(name, entry["content"]) for name, entry in value.items()]
    else:
        items = [(entry["name"], entry["content"]) for entry in value]
    return [(str(name), bytes(content)) for name, content in items]


def safe_name(name: str, what: str = "class name") -> str:
    """A file or folder name made safe: no folders, no leading dots, only ``[\\w .-]``.

    Raises ``ValueError`` when nothing is left (an empty class name).
    """
    name = Path(str(name).replace("\\", "/")).name.strip()
    name = re.sub(r"[^\w .-]+", "_", name).strip(" .")
    if not name:
        raise ValueError(f"the {what} is empty: type one (e.g. 'cat') first")
    return name


def check_image(name: str, content: bytes) -> None:
    """Raise ``ValueError`` saying so when ``content`` is not an image PIL can read."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ValueError(
            f"{name} is not an image that can be read ({type(error).__name__}); "
            "upload PNG or JPEG files"
        ) from None


def add_to_support(support: dict[str, list[tuple[str, bytes]]], class_name: str, files) -> str:
    """Add uploaded ``files`` ``[(name, bytes)]`` to class ``class_name`` of ``support``.

    ``support`` (``{class: [(name, bytes)]}``) is changed in place. Returns a one-line
    message; raises ``ValueError`` (with what to do) for an empty class name, no
    files, or a file that is not an image.
    """
    class_name = safe_name(class_name)
    files = list(files)
    if not files:
        raise ValueError(f"no images chosen for {class_name!r}: click Upload first")
    for name, content in files:
        check_image(name, content)
    support.setdefault(class_name, []).extend(files)
    return f"added {len(files)} image(s) to {class_name!r}. {support_summary(support)}"


def support_summary(support: Mapping[str, list]) -> str:
    """E.g. ``support set: cat (2 images), dog (3 images)``."""
    if not support:
        return "support set: empty"
    parts = [
        f"{name} ({len(files)} image{'s' * (len(files) != 1)})" for name, files in support.items()
    ]
    return "support set: " + ", ".join(parts)


def write_files(files, folder: str | os.PathLike) -> list[Path]:
    """Write ``[(name, bytes)]`` into ``folder`` (created) under safe, distinct names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (name, content) in enumerate(files):
        path = folder / safe_name(name, "file name")
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            path = path.with_name(path.name + ".png")
        if path.exists() or path in paths:
            path = path.with_name(f"{index}_{path.name}")
        path.write_bytes(content)
        paths.append(path)
    return paths


def write_support_folder(
    support: Mapping[str, list[tuple[str, bytes]]], folder: str | os.PathLike
) -> Path:
    """``{class: [(name, bytes)]}`` -> ``folder/<class>/<name>``, the layout ``predict`` reads."""
    folder = Path(folder)
    for class_name, files in support.items():
        write_files(files, folder / safe_name(class_name))
    return folder


def classify_uploads(
    pretrained, support, queries, methods=DEMO_METHODS, seed: int = 0
) -> tuple[dict[str, list[dict]], Figure]:
    """Classify uploaded queries among uploaded classes, through ``predict``'s code.

    ``support``: ``{class: [(name, bytes)]}`` (at least two classes); ``queries``:
    ``[(name, bytes)]``. The files are written to a temporary folder
    (``support/<class>/``, ``queries/``), classified by :func:`compare_methods`, and
    drawn by :func:`probability_figure`; the folder is deleted afterwards.
    Returns ``(results by method, figure)``, each result's ``query`` being the
    upload's file name.
    """
    queries = list(queries)
    if len(support) < 2:
        raise ValueError(f"add images of at least two classes first ({support_summary(support)})")
    if not queries:
        raise ValueError("upload at least one query image to classify")
    for name, content in queries:
        check_image(name, content)
    with tempfile.TemporaryDirectory(prefix="fewshot-uploads-") as temporary:
        support_dir = write_support_folder(support, Path(temporary) / "support")
        query_paths = write_files(queries, Path(temporary) / "queries")
        compared = compare_methods(pretrained, support_dir, query_paths, methods, seed)
        figure = probability_figure(compared)
    for results in compared.values():
        for result in results:
            result["query"] = Path(result["query"]).name
    return compared, figure


# ----------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------


def open_photo(path: str | os.PathLike) -> Image.Image:
    """An image file as RGB, upright (EXIF), transparent parts on white."""
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert("RGB")


def _show(ax, image, title: str | None = None, colour: str | None = None, **imshow) -> None:
    ax.imshow(image, **imshow)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    if colour:
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(3)


def probability_figure(
    results: Mapping[str, list[dict]] | list[dict], images: Mapping[str, Image.Image] | None = None
) -> Figure:
    """Each query (a row): its image, then one bar chart of class probabilities per method.

    ``results``: what :func:`fewshot_utils.predict.predict` returns, or
    ``{method label: results}`` (e.g. from :func:`compare_methods`), all for the
    same queries. The predicted class's bar is coloured: green/red when the query's
    file is named after its true class (:func:`true_class`), else blue.
    ``images``: ``{query: PIL image}``, default: open each query's file.
    """
    if not isinstance(results, Mapping):
        results = {"": list(results)}
    labels = list(results)
    first = results[labels[0]]
    if not first:
        raise ValueError("no results to draw: classify at least one query")
    rows, cols = len(first), 1 + len(labels)
    classes = list(first[0]["probabilities"])
    height = max(1.6, 0.28 * len(classes) + 0.8)
    fig = Figure(figsize=(2.0 + 3.4 * len(labels), height * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, width_ratios=[1] + [2.2] * len(labels)))
    axes = axes.reshape(rows, cols)
    for row, result in enumerate(first):
        query = result["query"]
        image = images[query] if images is not None else open_photo(query)
        truth = true_class(query, classes)
        _show(axes[row, 0], image, Path(query).name)
        for col, label in enumerate(labels, start=1):
            ax = axes[row, col]
            found = results[label][row]
            probabilities = [found["probabilities"][name] for name in classes]
            predicted = found["predicted"]
            colour = PREDICTED if truth is None else (RIGHT if predicted == truth else WRONG)
            colours = [colour if name == predicted else "lightgrey" for name in classes]
            positions = np.arange(len(classes))[::-1]
            bars = ax.barh(positions, probabilities, color=colours, height=0.7)
            ax.bar_label(bars, [f"{p:.2f}" for p in probabilities], fontsize=7, padding=2)
            ax.set_yticks(positions, classes, fontsize=8)
            ax.set_xlim(0, 1.15)
            ax.set_xticks([0, 0.5, 1])
            ax.tick_params(axis="x", labelsize=7)
            if row == 0 and label:
                ax.set_title(label, fontsize=9)
    return fig


def support_figure(
    support_dir: str | os.PathLike, query_files=(), preprocessing=None, size: float = 1.1
) -> Figure:
    """One row per class (and one for the queries): the images of a support folder.

    With ``preprocessing`` (a backbone's :class:`~fewshot_utils.backbone.Preprocessing`)
    each image is shown as the backbone sees it (:func:`fewshot_utils.predict.load_image`:
    grey, inverted, ``image_size`` pixels); without, as it is on disk.
    """
    class_names, paths = read_support_folder(support_dir)
    rows = [(name, list(files)) for name, files in zip(class_names, paths, strict=True)]
    if query_files:
        rows.append(("queries", [Path(path) for path in query_files]))
    cols = max(len(files) for _, files in rows)
    fig = Figure(figsize=(size * cols + 1.2, size * len(rows)), layout="constrained")
    axes = np.asarray(fig.subplots(len(rows), cols, squeeze=False))
    for r, (name, files) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(files):
                continue
            if preprocessing is None:
                _show(ax, open_photo(files[c]))
            else:
                seen = load_image(files[c], preprocessing).numpy()
                _show(ax, seen, cmap="gray", vmin=0, vmax=255)
            ax.axis("on")
            if r == len(rows) - 1 and query_files:
                ax.set_title(files[c].name, fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    return fig


# ----------------------------------------------------------------------------
# The widget
# ----------------------------------------------------------------------------


def upload_widget(pretrained, methods=DEMO_METHODS):
    """Upload a few images per class, then a query, and see its probabilities.

    Type a class name, choose its images (Upload), press "add to support set";
    repeat for each class (at least two); choose query images, press "classify".
    The callbacks call :func:`add_to_support` and :func:`classify_uploads`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    support: dict[str, list[tuple[str, bytes]]] = {}
    class_name = widgets.Text(placeholder="class name, e.g. cat", description="class")
    class_upload = widgets.FileUpload(accept="image/*", multiple=True, description="images")
    add = widgets.Button(description="add to support set", icon="plus")
    query_upload = widgets.FileUpload(accept="image/*", multiple=True, description="query")
    classify = widgets.Button(description="classify", button_style="primary")
    start_over = widgets.Button(description="start over")
    status = widgets.Label(support_summary(support))
    output = widgets.Output()

    def clear(upload) -> None:
        try:
            upload.value = ()  # ipywidgets 8
        except Exception:  # ipywidgets 7 keeps its own counter
            upload.value.clear()

    def on_add(_):
        try:
            status.value = add_to_support(
                support, class_name.value, uploaded_files(class_upload.value)
            )
            class_name.value = ""
            clear(class_upload)
        except ValueError as error:
            status.value = str(error)

    def on_classify(_):
        output.clear_output()
        with output:
            try:
                _, figure = classify_uploads(
                    pretrained, support, uploaded_files(query_upload.value), methods
                )
                display(figure)
            except ValueError as error:
                print(error)

    def on_start_over(_):
        support.clear()
        clear(class_upload)
        clear(query_upload)
        output.clear_output()
        status.value = support_summary(support)

    add.on_click(on_add)
    classify.on_click(on_classify)
    start_over.on_click(on_start_over)
    return widgets.VBox(
        [
            widgets.HBox([class_name, class_upload, add]),
            status,
            widgets.HBox([query_upload, classify, start_over]),
            output,
        ]
    )


# ----------------------------------------------------------------------------
# Photos with a pretrained ResNet-18 as f(x)
# ----------------------------------------------------------------------------


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
        try:
            image = open_photo(path)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ValueError(
                f"cannot read image {path} ({type(error).__name__}); replace or remove it"
            ) from None
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
    """Features of photo files: ``[B, 512]`` for ResNet-18 (``extractor`` in eval mode)."""
    preprocessing = preprocessing or PhotoPreprocessing()
    paths = list(paths)
    extractor.eval()
    chunks = [
        extractor(preprocessing.load_all(paths[start : start + batch]))
        for start in range(0, len(paths), batch)
    ]
    return torch.cat(chunks)


def predict_photos(
    extractor: nn.Module,
    support_dir,
    query_files,
    preprocessing: PhotoPreprocessing | None = None,
    scale: float = 1.0,
) -> list[dict]:
    """The prototype classifier on photo features, results as in ``predict``.

    ``M`` from each class folder's photos (:func:`fewshot_utils.prototypes.prototypes`,
    class by class, so the classes may have different numbers of photos), then
    ``p = softmax(s · M q̂)`` (:func:`fewshot_utils.prototypes.prototype_probabilities`).
    ``scale`` s changes how confident ``p`` looks, never which class wins.
    """
    class_names, support_paths = read_support_folder(support_dir)
    query_files = [Path(path) for path in query_files]
    if not query_files:
        raise ValueError("no query photos given: pass at least one image file to classify")
    flat = [path for paths in support_paths for path in paths]
    support_features = photo_features(extractor, flat, preprocessing)
    query_features = photo_features(extractor, query_files, preprocessing)
    per_class = torch.split(support_features, [len(paths) for paths in support_paths])
    M = torch.cat([prototypes(features.unsqueeze(0)) for features in per_class])
    probabilities = prototype_probabilities(M, query_features, scale)
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


def photos_missing(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not ready (``support/<class>/`` photos and ``queries/``), or ``None``."""
    folder = Path(folder)
    support_dir, queries = example_images(folder)
    try:
        read_support_folder(support_dir)
    except ValueError:
        return "no photos yet"
    if not queries:
        return "no query photo yet"
    return None


def farm_animals(
    folder: str | os.PathLike = FARM_ANIMALS,
    extractor: nn.Module | None = None,
    scale: float = 1.0,
    timeout: float = WEIGHTS_TIMEOUT_SECONDS,
) -> dict[str, list[dict]] | None:
    """The lecture's example: pig, cow, sheep photos, ResNet-18 as f(x), prototypes.

    Photos go in ``folder/support/pig/``, ``.../cow/``, ``.../sheep/`` (a few each;
    other class folders work too) and the photos to classify in ``folder/queries/``.
    When there are no photos, or the ImageNet weights cannot be had (offline),
    prints one line saying so and returns ``None``; otherwise returns
    ``{label: results}`` for :func:`probability_figure`. ``extractor``: another
    f(x) taking ImageNet-normalised photos (default: :func:`load_resnet18`).
    """
    folder = Path(folder)
    try:  # as the README and the notebooks name it: data/farm_animals
        shown = folder.resolve().relative_to(REPOSITORY).as_posix()
    except ValueError:
        shown = str(folder)
    problem = photos_missing(folder)
    if problem is not None:
        classes = ", ".join(f"support/{name}/" for name in FARM_CLASSES)
        print(
            f"Skipped: {problem} in {shown}/ (put a few photos in {classes} and the photo "
            "to classify in queries/, then run this cell again)."
        )
        return None
    if extractor is None:
        try:
            extractor = load_resnet18(timeout=timeout)
        except WeightsUnavailable as error:
            print(f"Skipped: ResNet-18's ImageNet weights are not available here ({error}).")
            return None
    support_dir, queries = example_images(folder)
    results = predict_photos(extractor, support_dir, queries, scale=scale)
    return {f"prototype, ResNet-18 features (s = {scale:g})": results}
