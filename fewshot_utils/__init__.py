"""fewshot_utils: the helper package of the few-shot learning course.

One module per idea of the course, in the order the notebooks teach them:

* :mod:`~fewshot_utils.data`, :mod:`~fewshot_utils.glyphs`: Omniglot and the offline Glyphs;
* :mod:`~fewshot_utils.episodes`: N-way K-shot episodes;
* :mod:`~fewshot_utils.backbone`, :mod:`~fewshot_utils.pretraining`: Conv4 and f(x);
* :mod:`~fewshot_utils.cosine_similarity`, :mod:`~fewshot_utils.prototypes`;
* :mod:`~fewshot_utils.fine_tuning`: the three tricks;
* :mod:`~fewshot_utils.evaluation`: accuracy with 95% confidence intervals.
"""

import os

# On a shared 2-core CPU (Binder, a busy laptop) OpenMP threads that spin while they
# wait made small training steps up to 10x slower; waiting passively keeps two threads
# fast. It only takes effect if set before torch is imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
