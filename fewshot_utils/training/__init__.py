"""Pretraining on the base classes: step 1 of the method, in one training loop.

* :mod:`~fewshot_utils.training.loop`: :class:`TrainingRecipe` and :func:`train`, the loop
  both ways of pretraining share;
* :mod:`~fewshot_utils.training.supervised`: classify the base classes
  (:func:`pretrain`, :class:`PretrainingConfig`, :class:`PretrainingModel`);
* :mod:`~fewshot_utils.training.siamese`: "same or different?" on pairs
  (:func:`pretrain_siamese`, :class:`SiameseConfig`, :func:`sample_pairs`);
* :mod:`~fewshot_utils.training.augmentation`: random affine warps of whole batches;
* :mod:`~fewshot_utils.training.distributed`: the same loop on several processes under
  ``torchrun`` (``DistributedDataParallel``, BatchNorm over the global batch).
"""

from fewshot_utils.training.loop import TrainingRecipe, train, train_validation_split
from fewshot_utils.training.siamese import (
    Pairs,
    SiameseConfig,
    SiameseModel,
    pretrain_siamese,
    sample_pairs,
)
from fewshot_utils.training.supervised import (
    PretrainingConfig,
    PretrainingModel,
    PretrainingResult,
    config_dict,
    pretrain,
)

__all__ = [
    "Pairs",
    "PretrainingConfig",
    "PretrainingModel",
    "PretrainingResult",
    "SiameseConfig",
    "SiameseModel",
    "TrainingRecipe",
    "config_dict",
    "pretrain",
    "pretrain_siamese",
    "sample_pairs",
    "train",
    "train_validation_split",
]
