"""The course's figures and tables: every function draws one figure and returns it.

One look (:mod:`~fewshot_utils.viz.style`: a colour per method, image tiles, "N-way
K-shot" labels) and one table writer (:mod:`~fewshot_utils.viz.tables`). By lesson:

* :mod:`~fewshot_utils.viz.images`: image grids, episodes, pairs, support folders;
* :mod:`~fewshot_utils.viz.training`: pretraining curves and tables;
* :mod:`~fewshot_utils.viz.similarity`: feature lengths, similarity matrices, neighbours;
* :mod:`~fewshot_utils.viz.prototypes`: one episode up close, mistakes, ways and shots;
* :mod:`~fewshot_utils.viz.fine_tuning`: fine-tuning per step, collapses, sweeps;
* :mod:`~fewshot_utils.viz.calibration`: reliability diagrams;
* :mod:`~fewshot_utils.viz.results`: accuracy bars, paired differences, your predictions.
"""

from fewshot_utils.viz.calibration import reliability_diagram
from fewshot_utils.viz.fine_tuning import (
    fine_tuning_curves,
    fine_tuning_figure,
    predicted_class_histogram,
    sweep_figure,
)
from fewshot_utils.viz.images import episode_figure, image_grid, pairs_figure, support_figure
from fewshot_utils.viz.prototypes import (
    accuracy_sweep_figure,
    episode_explorer_figure,
    wrong_queries_figure,
)
from fewshot_utils.viz.results import (
    accuracy_bars,
    method_label,
    paired_differences_figure,
    probability_figure,
)
from fewshot_utils.viz.similarity import (
    cosine_demo_figure,
    nearest_neighbours_figure,
    norm_spread_figure,
    similarity_matrices_figure,
)
from fewshot_utils.viz.tables import (
    benchmark_table,
    comparison_table,
    fine_tuning_table,
    markdown_table,
    published_table,
    sweep_table,
    trace_table,
    verdict_table,
)
from fewshot_utils.viz.training import history_table, training_curves

__all__ = [
    "accuracy_bars",
    "accuracy_sweep_figure",
    "benchmark_table",
    "comparison_table",
    "cosine_demo_figure",
    "episode_explorer_figure",
    "episode_figure",
    "fine_tuning_curves",
    "fine_tuning_figure",
    "fine_tuning_table",
    "history_table",
    "image_grid",
    "markdown_table",
    "method_label",
    "nearest_neighbours_figure",
    "norm_spread_figure",
    "paired_differences_figure",
    "pairs_figure",
    "predicted_class_histogram",
    "probability_figure",
    "published_table",
    "reliability_diagram",
    "similarity_matrices_figure",
    "support_figure",
    "sweep_figure",
    "sweep_table",
    "trace_table",
    "training_curves",
    "verdict_table",
    "wrong_queries_figure",
]
