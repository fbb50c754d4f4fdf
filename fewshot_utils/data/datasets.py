"""The course's one call for data: :func:`load_dataset` gives base and novel classes in memory.

* ``"omniglot"``: real Omniglot, Lake's split (:mod:`fewshot_utils.data.omniglot`);
* ``"glyphs"``: the offline stand-in drawn from matplotlib's fonts
  (:mod:`fewshot_utils.data.glyphs`);
* ``"auto"``: Omniglot when it can be had, else Glyphs, saying so in one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fewshot_utils.data.omniglot import OmniglotUnavailable, load_omniglot_split
from fewshot_utils.data.splits import SPLITS, FewShotSplit
from fewshot_utils.paths import data_root
from fewshot_utils.validation import check

DATASETS = ("auto", "omniglot", "glyphs")


@dataclass
class Dataset:
    """A few-shot dataset: base classes for pretraining, novel classes for episodes."""

    name: str
    background: FewShotSplit
    evaluation: FewShotSplit

    def split(self, name: str) -> FewShotSplit:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}: choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def describe(self) -> str:
        return "\n".join(split.describe() for split in (self.background, self.evaluation))


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
    """The course's one call for data: ``"omniglot"``, ``"glyphs"`` or ``"auto"``.

    ``auto`` takes Omniglot when it can be had, else Glyphs, printing one line
    that says why and how to get Omniglot. ``omniglot`` raises
    :class:`~fewshot_utils.data.omniglot.OmniglotUnavailable` instead of falling
    back, and so does ``auto`` when ``zips`` are given (you asked for them). ``root``: where
    data lives (default :func:`fewshot_utils.paths.data_root`); ``seed`` is Glyphs' seed.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    image_size, seed = check("image_size", image_size), check("seed", seed)
    root = Path(root) if root is not None else data_root()
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
