"""Folders of images, one sub-folder per class: a support set of your own.

The layout::

    my_support/
        alpha/  a1.png  a2.jpg
        beta/   b1.png
        gamma/  scan.jpeg

Class names are the sub-folders' names, sorted. Hidden files and folders (``.DS_Store``,
``.ipynb_checkpoints``) and files that are not images (by extension) are skipped; loose
files directly in the top folder are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

from fewshot_utils.data.images import IMAGE_EXTENSIONS, image_files, is_hidden

SUPPORT_LAYOUT = "one sub-folder per class holding its images (e.g. support/cat/1.png)"
NUMBERS = {1: "one", 2: "two", 3: "three"}


def class_folders(directory: str | os.PathLike, what: str = "support folder") -> list[Path]:
    """The visible sub-folders of ``directory``, sorted by name.

    Raises ``ValueError`` saying what to fix when ``directory`` is missing or is a file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        state = "is a file, not a folder" if directory.exists() else "does not exist"
        raise ValueError(f"{what} {directory} {state}: give a folder with {SUPPORT_LAYOUT}")
    return sorted(
        (path for path in directory.iterdir() if path.is_dir() and not is_hidden(path)),
        key=lambda path: path.name,
    )


def read_class_folders(
    directory: str | os.PathLike, what: str = "support folder", least: int = 2
) -> tuple[list[str], list[list[Path]]]:
    """``(class_names, paths)``: the sorted class sub-folders and each one's sorted images.

    ``paths[n]`` lists the image files of class ``class_names[n]``. Raises
    ``ValueError`` saying what to fix for a missing folder, fewer than ``least``
    classes, or a class folder without images.
    """
    folders = class_folders(directory, what)
    if len(folders) < least:
        found = ", ".join(path.name for path in folders) or "none"
        loose = len(image_files(directory))
        loose = f"; its {loose} image(s) directly inside it are not used" if loose else ""
        raise ValueError(
            f"{what} {directory} has {len(folders)} class sub-folder(s) ({found}){loose}; "
            f"few-shot classification needs at least {NUMBERS.get(least, least)}: make "
            f"{SUPPORT_LAYOUT}"
        )
    class_names, paths = [], []
    for folder in folders:
        images = image_files(folder)
        if not images:
            others = sorted(p.name for p in folder.iterdir() if p.is_file() and not is_hidden(p))
            found = f"; it holds {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}"
            raise ValueError(
                f"class folder {folder} has no images (looked for {', '.join(IMAGE_EXTENSIONS)}"
                f"{found if others else ''}): add at least one image of the class (export "
                "other formats as PNG or JPEG) or remove the folder"
            )
        class_names.append(folder.name)
        paths.append(images)
    return class_names, paths
