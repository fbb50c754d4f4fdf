"""The models: Conv4 and its feature extractor f(x), checkpoints, and a ResNet-18 for photos.

* :mod:`~fewshot_utils.models.conv4`: :class:`Conv4`, :class:`Preprocessing` (image ->
  network input), :func:`embed` (a split's images -> features ``[I, d]``);
* :mod:`~fewshot_utils.models.checkpoints`: save and load a pretrained backbone;
  :func:`find_backbone` (the shipped one, or your own);
* :mod:`~fewshot_utils.models.resnet`: ResNet-18's ImageNet features for photos.
"""

from fewshot_utils.models.checkpoints import (
    PretrainedBackbone,
    find_backbone,
    load_backbone,
    save_checkpoint,
)
from fewshot_utils.models.conv4 import Conv4, Preprocessing, embed

__all__ = [
    "Conv4",
    "PretrainedBackbone",
    "Preprocessing",
    "embed",
    "find_backbone",
    "load_backbone",
    "save_checkpoint",
]
