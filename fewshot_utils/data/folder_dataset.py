"""Your own dataset: folders of images, one sub-folder per class, for base and novel classes.

The layout (``--dataset folder:my_dataset``, ``load_dataset("folder:my_dataset")``)::

    my_dataset/
        background/     the base classes, to pretrain on
            cat/  1.png  2.jpg ...
            dog/  ...
        evaluation/     the novel classes, never seen in pretraining, for episodes
            fox/  ...
        validation/     (optional) more novel classes, to choose settings on

Class names are the sub-folders' names, sorted; hidden files and non-images are skipped
(:func:`fewshot_utils.data.folders.read_class_folders`). Every image is made to look like
the course's datasets by :func:`fewshot_utils.data.images.load_image`: grey, padded to a
square, resized to ``image_size`` and inverted when its border is bright (dark strokes on
paper become bright strokes on dark), so each split is ``uint8 [I, image_size,
image_size]`` like Omniglot's.

Each split is cached as one tensor under ``<root>/folders/`` (default root: ``data/``),
written atomically and keyed by the files' names, sizes and modification times (and the
image size): add, remove, replace or touch an image and the split is read again.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import load_image
from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.paths import data_root
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically

PREFIX = "folder:"
#: The split folders: the first two are required, ``validation/`` is optional.
SPLIT_FOLDERS = ("background", "evaluation", "validation")
CACHE_KIND = "fewshot-folder-cache"
CACHE_VERSION = 1
LAYOUT = (
    "background/ and evaluation/ (and optionally validation/), each with one sub-folder of "
    "images per class, e.g. background/cat/1.png"
)


def is_folder_name(name: str) -> bool:
    """``"folder:PATH"``: a dataset of your own folders."""
    return isinstance(name, str) and name.startswith(PREFIX)


def dataset_name(folder: str | os.PathLike) -> str:
    """The dataset's name, safe in file names: ``folder-<folder's name>``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(folder).resolve().name) or "root"
    return f"folder-{base}"


def _signature(files: list[Path], folder: Path, image_size: int) -> str:
    """Changes when any image is added, removed, renamed, resized or touched."""
    digest = hashlib.sha1(f"v{CACHE_VERSION} {image_size}px".encode())
    for path in files:
        status = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()} {status.st_size} ".encode())
        digest.update(f"{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_path(root: Path, folder: Path, split: str, image_size: int) -> Path:
    """``<root>/folders/<dataset name>-<hash of the dataset folder's path>/<split>-<size>px.pt``
    for the split folder ``folder`` (inside the dataset folder)."""
    dataset = folder.resolve().parent
    where = hashlib.sha1(str(dataset).encode()).hexdigest()[:10]
    return root / "folders" / f"{dataset_name(dataset)}-{where}" / f"{split}-{image_size}px.pt"


def load_folder_split(
    folder: str | os.PathLike,
    split: str,
    image_size: int = 28,
    root: str | os.PathLike | None = None,
    progress: bool = False,
    dataset: str | None = None,
) -> FewShotSplit:
    """One split folder (``<class>/<image>`` inside) as a :class:`FewShotSplit`, cached.

    Raises ``ValueError`` naming the folder or file when the split has fewer than two
    classes, a class folder holds no images, or an image cannot be read.
    """
    folder = Path(folder)
    class_names, paths = read_class_folders(folder, what=f"the {split} split folder")
    files = [path for class_paths in paths for path in class_paths]
    root = Path(root) if root is not None else data_root()
    signature = _signature(files, folder, image_size)
    cache = _cache_path(root, folder, split, image_size)
    if cache.is_file():
        try:
            state = load_tensors(cache, CACHE_KIND, required=("signature", "split"))
            if state["signature"] == signature:
                return FewShotSplit.from_state(state["split"])
        except CorruptFileError:
            pass  # read again below
    images = torch.empty(len(files), image_size, image_size, dtype=torch.uint8)
    for i, path in enumerate(
        tqdm(files, desc=f"reading {split}", unit="img", disable=not progress)
    ):
        images[i] = load_image(path, image_size, invert=True)
    labels = torch.repeat_interleave(torch.tensor([len(p) for p in paths]))
    loaded = FewShotSplit(
        dataset=dataset or dataset_name(folder.parent),
        split=split,
        images=images,
        labels=labels.to(torch.long),
        class_names=class_names,
        alphabets=list(class_names),  # no alphabets: each class is its own group
    )
    save_atomically({"kind": CACHE_KIND, "signature": signature, "split": loaded.state()}, cache)
    return loaded


def load_folder_splits(
    name_or_path: str | os.PathLike,
    image_size: int = 28,
    root: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[str, dict[str, FewShotSplit]]:
    """``(dataset name, {split: FewShotSplit})`` of a dataset folder (``"folder:PATH"`` or
    PATH): ``background`` and ``evaluation``, and ``validation`` when the folder has one.

    Raises ``ValueError`` saying what to fix when PATH is not a folder, lacks a required
    split folder, or a split cannot be read (see :func:`load_folder_split`).
    """
    text = str(name_or_path)
    folder = Path(text[len(PREFIX) :] if is_folder_name(text) else text).expanduser()
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"dataset folder {folder} {state}: give a folder holding {LAYOUT}")
    missing = [split for split in SPLIT_FOLDERS[:2] if not (folder / split).is_dir()]
    if missing:
        found = ", ".join(sorted(p.name + "/" for p in folder.iterdir() if p.is_dir())) or "none"
        raise ValueError(
            f"dataset folder {folder} has no {' or '.join(m + '/' for m in missing)} "
            f"(its sub-folders: {found}): it must hold {LAYOUT}"
        )
    name = dataset_name(folder)
    splits = {
        split: load_folder_split(folder / split, split, image_size, root, progress, name)
        for split in SPLIT_FOLDERS
        if (folder / split).is_dir()
    }
    return name, splits
