"""fewshot_utils: the helper package of the few-shot learning course.

Subpackages in the order the course teaches, each importing only those before it:

* :mod:`~fewshot_utils.data`: base and novel classes (Omniglot, the offline Glyphs,
  your own folders), image files -> tensors;
* :mod:`~fewshot_utils.models`: Conv4 and f(x), checkpoints, a ResNet-18 for photos;
* :mod:`~fewshot_utils.training`: pretraining, supervised and Siamese, in one loop;
* :mod:`~fewshot_utils.fewshot`: episodes, cosine similarity, prototypes, fine-tuning
  with the three tricks, the methods, evaluation with confidence intervals, predict.

The faces on top, which nothing below imports: :mod:`~fewshot_utils.viz` (figures and
tables), :mod:`~fewshot_utils.widgets`, :mod:`~fewshot_utils.exercises`,
:mod:`~fewshot_utils.cli` and :mod:`~fewshot_utils.notebook` (what a notebook imports).
"""

from fewshot_utils.runtime import prepare_process

prepare_process()  # before torch is imported: see fewshot_utils.runtime

__version__ = "0.1.0"
