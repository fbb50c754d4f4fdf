"""The course's one call for data: :func:`load_dataset` gives base and novel classes in memory.

* ``"omniglot"``: real Omniglot, Lake's split (:mod:`fewshot_utils.data.omniglot`);
* ``"glyphs"``: the offline stand-in drawn from matplotlib's fonts
  (:mod:`fewshot_utils.data.glyphs`);
* ``"auto"``: Omniglot when it can be had, else Glyphs, saying so in one line;
* ``"folder:PATH"``: your own images, ``PATH/background/<class>/*`` and
  ``PATH/evaluation/<class>/*`` (and optionally ``PATH/validation/``)
  (:mod:`fewshot_utils.data.folder_dataset`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fewshot_utils.data.folder_dataset import PREFIX, is_folder_name, load_folder_splits
from fewshot_utils.data.omniglot import OmniglotUnavailable, load_omniglot_split
from fewshot_utils.data.splits import SPLITS, FewShotSplit
from fewshot_utils.paths import data_root
from fewshot_utils.validation import check

DATASETS = ("auto", "omniglot", "glyphs")
#: How ``--dataset`` names your own folders: ``folder:PATH``.
FOLDER = PREFIX + "PATH"


@dataclass
class Dataset:
    """A few-shot dataset: base classes for pretraining, novel classes for episodes, and
    (your own folders only, when there is one) a ``validation`` split of other novel classes."""

    name: str
    background: FewShotSplit
    evaluation: FewShotSplit
    validation: FewShotSplit | None = None

    def split(self, name: str) -> FewShotSplit:
        names = SPLITS + (("validation",) if self.validation is not None else ())
        if name not in names:
            raise ValueError(f"unknown split {name!r}: choose one of {', '.join(names)}")
        return getattr(self, name)

    def describe(self) -> str:
        splits = (self.background, self.evaluation, self.validation)
        return "\n".join(split.describe() for split in splits if split is not None)


def load_omniglot(
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    zips: list[str | os.PathLike] | None = None,
    download: bool = True,
    progress: bool = False,
) -> Dataset:
    """Both Omniglot splits (Lake's background/evaluation split)."""
    background, evaluation = (
        load_omniglot_split(split, root, image_size, zips, download, progress) for split in SPLITS
    )
    return Dataset("omniglot", background, evaluation)


def load_dataset(
    name: str = "auto",
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    zips: list[str | os.PathLike] | None = None,
    download: bool = True,
    progress: bool = False,
    seed: int = 0,
) -> Dataset:
    """The course's one call for data: ``"omniglot"``, ``"glyphs"``, ``"auto"`` or
    ``"folder:PATH"`` (your own class folders, cached under ``root``).

    ``auto`` takes Omniglot when it can be had, else Glyphs, printing one line
    that says why and how to get Omniglot. ``omniglot`` raises
    :class:`~fewshot_utils.data.omniglot.OmniglotUnavailable` instead of falling
    back, and so does ``auto`` when ``zips`` are given (you asked for them). ``root``: where
    data lives (default :func:`fewshot_utils.paths.data_root`); ``seed`` is Glyphs' seed.
    """
    image_size, seed = check("image_size", image_size), check("seed", seed)
    root = Path(root) if root is not None else data_root()
    if is_folder_name(name):
        dataset, splits = load_folder_splits(name, image_size, root, progress)
        return Dataset(
            dataset, splits["background"], splits["evaluation"], splits.get("validation")
        )
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)} or {FOLDER} "
            "(a folder of your own)"
        )
    if name in ("auto", "omniglot"):
        try:
            return load_omniglot(root, image_size, zips, download, progress)
        except OmniglotUnavailable as error:
            if name == "omniglot" or zips:  # zips you named are never swapped for Glyphs
                raise
            print(f"Using the offline Glyphs dataset: {error}")
    from fewshot_utils.data.glyphs import load_glyphs

    background, evaluation = load_glyphs(root=root, seed=seed, image_size=image_size)
    return Dataset("glyphs", background, evaluation)
