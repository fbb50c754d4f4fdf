"""Where the course keeps its files: one place that the command line and the notebooks share.

Every path is resolved against the repository (the folder that holds ``fewshot_utils/``),
so a command gives the same answer from any working directory:

* :func:`data_root`: ``data/`` (datasets, their caches, cached features), or
  ``$FEWSHOT_DATA_DIR``;
* :func:`checkpoints_folder`: ``checkpoints/``, where your own pretrained backbones go,
  or ``$FEWSHOT_CHECKPOINTS`` (the test suite points it at a temporary folder, so that
  running the tests never replaces a learner's backbone);
* :func:`own_checkpoint`: ``checkpoints/conv4.pt``, what notebook 01 and ``pretrain`` write
  and what ``find_backbone("mine")`` reads;
* :data:`SHIPPED_CHECKPOINT`, :data:`EXAMPLE_IMAGES`, :data:`FARM_ANIMALS`: files that ship
  with the course (or that a learner adds) under ``data/``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository: the folder holding ``fewshot_utils/``, ``data/`` and ``notebooks/``.
REPOSITORY = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPOSITORY / "notebooks"
#: The backbone that ships with the course: Conv4 pretrained on Omniglot's background alphabets.
SHIPPED_CHECKPOINT = REPOSITORY / "data" / "conv4_omniglot.pt"
#: The shipped example drawings: ``support/<class>/*.jpg`` and ``queries/<class>.jpg``.
EXAMPLE_IMAGES = REPOSITORY / "data" / "example_images"
#: Where a learner puts photos for notebook 08's ResNet-18 example:
#: ``support/{pig,cow,sheep}/`` and ``queries/``.
FARM_ANIMALS = REPOSITORY / "data" / "farm_animals"

DATA_VARIABLE = "FEWSHOT_DATA_DIR"
CHECKPOINTS_VARIABLE = "FEWSHOT_CHECKPOINTS"
OWN_CHECKPOINT_NAME = "conv4.pt"


def data_root() -> Path:
    """``$FEWSHOT_DATA_DIR`` if set, else the repository's ``data/`` (or ``./data`` when the
    package is installed without its repository)."""
    if os.environ.get(DATA_VARIABLE):
        return Path(os.environ[DATA_VARIABLE])
    repository_data = REPOSITORY / "data"
    return repository_data if repository_data.is_dir() else Path("data")


def checkpoints_folder() -> Path:
    """``$FEWSHOT_CHECKPOINTS`` if set, else the repository's ``checkpoints/``."""
    if os.environ.get(CHECKPOINTS_VARIABLE):
        return Path(os.environ[CHECKPOINTS_VARIABLE])
    return REPOSITORY / "checkpoints"


def own_checkpoint() -> Path:
    """Your own backbone: ``checkpoints/conv4.pt`` (see :func:`checkpoints_folder`)."""
    return checkpoints_folder() / OWN_CHECKPOINT_NAME


def shown(path: str | os.PathLike) -> str:
    """A path as a learner reads it: relative to the repository when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPOSITORY).as_posix()
    except ValueError:
        return str(path)
