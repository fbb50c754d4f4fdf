"""Few-shot classification on top of f(x): steps 2-4 of the method, and how to measure them.

In the course's order:

* :mod:`~fewshot_utils.fewshot.episodes`: N-way K-shot episodes as index tensors;
* :mod:`~fewshot_utils.fewshot.cosine_similarity`: ``cos = a·b / (|a||b|)``;
* :mod:`~fewshot_utils.fewshot.prototypes`: ``M`` from the support set, ``p = softmax(M q̂)``;
* :mod:`~fewshot_utils.fewshot.softmax_classifier`, :mod:`~fewshot_utils.fewshot.fine_tuning`,
  :mod:`~fewshot_utils.fewshot.gradients`: fine-tuning ``W, b`` with the three tricks;
* :mod:`~fewshot_utils.fewshot.classifier` and :mod:`~fewshot_utils.fewshot.methods`: what
  a method is, and the named methods of the benchmark table;
* :mod:`~fewshot_utils.fewshot.evaluation`: mean accuracy with 95% confidence intervals,
  paired differences; :mod:`~fewshot_utils.fewshot.benchmark`: every method in every setting;
* :mod:`~fewshot_utils.fewshot.calibration`, :mod:`~fewshot_utils.fewshot.inspection`,
  :mod:`~fewshot_utils.fewshot.collapse`: looking inside (calibration, neighbours, mistakes,
  fine-tuning step by step, Adam's steps and the entropy's pull in a collapse);
* :mod:`~fewshot_utils.fewshot.probe`: a few-shot probe to watch during pretraining;
* :mod:`~fewshot_utils.fewshot.predict`: your own images.
"""

from fewshot_utils.fewshot.benchmark import LAKE, PUBLISHED, SETTINGS, Setting, run_benchmark
from fewshot_utils.fewshot.calibration import Reliability, expected_calibration_error, reliability
from fewshot_utils.fewshot.classifier import FewShotMethod
from fewshot_utils.fewshot.collapse import (
    FineTuningTrace,
    adam_step,
    entropy_push,
    trace_fine_tuning,
)
from fewshot_utils.fewshot.cosine_similarity import (
    cosine_similarity,
    cosine_similarity_matrix,
    l2_normalize,
)
from fewshot_utils.fewshot.entropy import entropy, entropy_from_logits
from fewshot_utils.fewshot.episodes import Episodes, sample_episodes
from fewshot_utils.fewshot.evaluation import (
    EvaluationResult,
    PairedDifference,
    by_method,
    episode_features,
    episode_probabilities,
    evaluate,
    evaluate_methods,
    evaluate_per_episode_loop,
    mean_and_ci,
    paired_difference,
    setting_name,
    sweep,
    verdict,
)
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune, random_init
from fewshot_utils.fewshot.inspection import (
    accuracy_sweep,
    block_similarities,
    correlation,
    feature_norms,
    ink,
    nearest_neighbour_accuracy,
    nearest_neighbours,
    pick_class_drawings,
    predicted_class_shares,
    record_fine_tuning,
    wrong_queries,
)
from fewshot_utils.fewshot.methods import METHOD_KEYS, METHODS, register_method, resolve_method
from fewshot_utils.fewshot.predict import compare_methods, example_folder, farm_animals, predict
from fewshot_utils.fewshot.probe import FewShotProbe, preprocessing_for
from fewshot_utils.fewshot.prototypes import (
    PrototypeClassifier,
    PrototypeMethod,
    prototype_logits,
    prototype_probabilities,
    prototypes,
)
from fewshot_utils.fewshot.softmax_classifier import (
    FineTunedClassifier,
    FineTuningHistory,
    classifier_logits,
)

__all__ = [
    "LAKE",
    "METHODS",
    "METHOD_KEYS",
    "PUBLISHED",
    "Setting",
    "SETTINGS",
    "Episodes",
    "EvaluationResult",
    "FewShotMethod",
    "FewShotProbe",
    "FineTunedClassifier",
    "FineTuning",
    "FineTuningHistory",
    "FineTuningTrace",
    "PairedDifference",
    "PrototypeClassifier",
    "PrototypeMethod",
    "Reliability",
    "accuracy_sweep",
    "adam_step",
    "block_similarities",
    "by_method",
    "classifier_logits",
    "compare_methods",
    "correlation",
    "cosine_similarity",
    "cosine_similarity_matrix",
    "entropy",
    "entropy_from_logits",
    "entropy_push",
    "episode_features",
    "episode_probabilities",
    "evaluate",
    "evaluate_methods",
    "evaluate_per_episode_loop",
    "example_folder",
    "expected_calibration_error",
    "farm_animals",
    "feature_norms",
    "fine_tune",
    "ink",
    "l2_normalize",
    "mean_and_ci",
    "nearest_neighbour_accuracy",
    "nearest_neighbours",
    "paired_difference",
    "pick_class_drawings",
    "predict",
    "predicted_class_shares",
    "preprocessing_for",
    "prototype_logits",
    "prototype_probabilities",
    "prototypes",
    "random_init",
    "record_fine_tuning",
    "register_method",
    "reliability",
    "resolve_method",
    "run_benchmark",
    "sample_episodes",
    "setting_name",
    "sweep",
    "trace_fine_tuning",
    "verdict",
    "wrong_queries",
]
