"""Notebook 08's upload widget: a support set of your own images, then a query.

ipywidgets' ``FileUpload`` hands over bytes. The widget's callbacks only call plain,
tested functions: :func:`uploaded_files` reads an upload, :func:`add_to_support` collects
the images of one class, and :func:`classify_uploads` writes them into a temporary folder
in the support-folder layout and classifies the queries with the same code as the
``predict`` command (:func:`fewshot_utils.fewshot.predict.compare_methods`), drawn by
:func:`fewshot_utils.viz.results.probability_figure`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image, UnidentifiedImageError

from fewshot_utils.data.images import IMAGE_EXTENSIONS
from fewshot_utils.fewshot.predict import DEMO_METHODS, compare_methods
from fewshot_utils.viz.results import probability_figure


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
    wide = widgets.Layout(width="auto")  # the whole label, not "add to support..."
    add = widgets.Button(description="add to support set", icon="plus", layout=wide)
    query_upload = widgets.FileUpload(accept="image/*", multiple=True, description="query")
    classify = widgets.Button(description="classify", button_style="primary")
    start_over = widgets.Button(description="start over", layout=wide)
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
