"""The data: base classes to pretrain on, novel classes to learn from a few examples.

* :func:`load_dataset`: real Omniglot (Lake's split), the offline Glyphs, or your own
  class folders (``"folder:PATH"``, :mod:`~fewshot_utils.data.folder_dataset`), as two
  in-memory :class:`FewShotSplit` objects, ``background`` (base classes) and
  ``evaluation`` (novel classes);
* :mod:`~fewshot_utils.data.images`: how an image file becomes the course's ``uint8``
  image (your own drawings and photos included);
* :mod:`~fewshot_utils.data.folders`: a folder of class sub-folders, e.g. your own
  support set.
"""

from fewshot_utils.data.datasets import DATASETS, Dataset, load_dataset
from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import image_files, load_image, load_images
from fewshot_utils.data.omniglot import OmniglotUnavailable
from fewshot_utils.data.splits import SPLITS, FewShotSplit

__all__ = [
    "DATASETS",
    "SPLITS",
    "Dataset",
    "FewShotSplit",
    "OmniglotUnavailable",
    "image_files",
    "load_dataset",
    "load_image",
    "load_images",
    "read_class_folders",
]
