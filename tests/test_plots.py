"""The course's figures: each returns a Figure with the expected panels, titles and images."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.training.siamese import sample_pairs
from fewshot_utils.viz.images import episode_figure, image_grid, pairs_figure
from fewshot_utils.viz.results import accuracy_bars
from fewshot_utils.viz.training import history_table, training_curves


def images_drawn(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def toy_images(count: int = 30) -> torch.Tensor:
    return (torch.rand(count, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(
        torch.uint8
    )


def test_image_grid_draws_one_axes_per_image_with_titles():
    fig = image_grid(toy_images(7), ncols=3, titles=list("abcdefg"), title="seven")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 7 and images_drawn(fig) == 7
    assert [ax.get_title() for ax in fig.axes] == list("abcdefg")
    long = image_grid(toy_images(1), titles=["Alphabet_of_the_Magi"])
    assert long.axes[0].get_title() == "Alphabet of\nthe Magi"
    assert fig._suptitle.get_text() == "seven"
    # uint8 images are shown on the fixed 0..255 scale, in grey.
    assert fig.axes[0].images[0].get_clim() == (0, 255)


def test_image_grid_refuses_mismatched_titles_and_empty_input():
    with pytest.raises(ValueError, match="one per image"):
        image_grid(toy_images(3), titles=["a"])
    with pytest.raises(ValueError, match="at least one"):
        image_grid(toy_images(0))


def test_episode_figure_shows_the_support_grid_and_some_queries():
    labels = torch.arange(6).repeat_interleave(5)
    episodes = sample_episodes(labels, ways=3, shots=2, queries=3, episodes=2, seed=0)
    names = [f"Alphabet/character{c}" for c in range(6)]
    fig = episode_figure(toy_images(), episodes, episode=1, class_names=names, queries_per_class=2)
    assert images_drawn(fig) == 3 * 2 + 3 * 2
    assert len(fig.axes) == 12
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    classes = episodes.classes[1].tolist()
    assert ylabels == [f"class {n}\nAlphabet\ncharacter{c}" for n, c in enumerate(classes)]
    query_titles = sorted(ax.get_title() for ax in fig.axes if ax.get_title())
    assert query_titles == ["is 0", "is 0", "is 1", "is 1", "is 2", "is 2"]
    texts = [t.get_text() for t in fig.texts]
    assert texts[:2] == ["support set: 2 per class", "queries (true class)"]
    assert fig._suptitle.get_text() == "3-way 2-shot episode"


def test_episode_figure_can_hide_the_query_labels():
    labels = torch.arange(6).repeat_interleave(5)
    episodes = sample_episodes(labels, ways=2, shots=1, queries=4, episodes=1)
    fig = episode_figure(toy_images(), episodes, queries_per_class=10, reveal=False)
    assert images_drawn(fig) == 2 * 1 + 2 * 4
    assert {ax.get_title() for ax in fig.axes if ax.get_title()} == {"?"}
    assert [t.get_text() for t in fig.texts][:2] == ["support set: 1 per class", "queries"]


def test_pairs_figure_titles_same_and_different():
    labels = torch.arange(3).repeat_interleave(10)
    pairs = sample_pairs(labels, 6, seed=0)
    fig = pairs_figure(toy_images(), pairs, count=6)
    assert images_drawn(fig) == 12
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["same"] * 3 + ["different"] * 3


HISTORY = [
    {
        "epoch": e,
        "loss": 3.0 / e,
        "train_accuracy": 20.0 * e,
        "validation_accuracy": 18.0 * e,
        "fewshot_5way_1shot": 80.0 + e,
        "fewshot_5way_1shot_ci95": 1.0,
    }
    for e in (1, 2, 3)
]


def test_training_curves_has_one_panel_per_kind_of_number():
    fig = training_curves(HISTORY)
    assert [ax.get_title() for ax in fig.axes] == [
        "training loss",
        "pretraining task, base classes: accuracy (%)",
        "few-shot probe, novel classes (%)",
    ]
    loss, accuracy, probe = fig.axes
    assert len(loss.lines) == 1 and list(loss.lines[0].get_ydata()) == [3.0, 1.5, 1.0]
    assert [line.get_label() for line in accuracy.lines] == ["train", "validation"]
    assert [t.get_text() for t in probe.get_legend().get_texts()] == ["5-way 1-shot"]


def test_training_curves_compares_runs_and_skips_panels_without_data():
    plain = [{k: v for k, v in row.items() if not k.startswith("fewshot")} for row in HISTORY]
    fig = training_curves({"notebook": HISTORY, "shipped": plain})
    assert len(fig.axes) == 3
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert labels == [
        "notebook: train",
        "notebook: validation",
        "shipped: train",
        "shipped: validation",
    ]
    assert len(training_curves(plain).axes) == 2
    only = training_curves({"a": HISTORY, "b": HISTORY}, panels=["fewshot"], title="probe")
    assert len(only.axes) == 1 and only._suptitle.get_text() == "probe"


def test_training_curves_refuses_nonsense():
    with pytest.raises(ValueError, match="at least one"):
        training_curves([])
    with pytest.raises(ValueError, match="unknown panel"):
        training_curves(HISTORY, panels=["speed"])


def evaluation_results():
    labels = torch.arange(8).repeat_interleave(20)
    features = torch.nn.functional.one_hot(labels).float() + 0.8 * torch.randn(
        160, 8, generator=torch.Generator().manual_seed(0)
    )
    results = []
    for ways in (3, 5):
        episodes = sample_episodes(labels, ways, 1, episodes=50, seed=0)
        results.append(evaluate(features, episodes))
    return results


def test_accuracy_bars_from_results_grouped_by_setting():
    results = evaluation_results()
    fig = accuracy_bars({"supervised": results, "Siamese": results}, title="compare")
    (ax,) = fig.axes
    assert ax.get_title() == "compare"
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3-way 1-shot", "5-way 1-shot"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["supervised", "Siamese"]
    assert ax.patches[0].get_height() == pytest.approx(results[0].accuracy)
    annotations = [t.get_text() for t in ax.texts]
    assert f"{results[0].accuracy:.1f}\n±{results[0].ci95:.1f}" in annotations
    assert ax.get_ylim()[1] > 100


def test_accuracy_bars_from_numbers_and_a_plain_list():
    fig = accuracy_bars({"a": (97.0, 0.5), "b": (91.2, 1.1)}, ylim=(0, 100))
    assert len(fig.axes[0].patches) == 2 and fig.axes[0].get_ylim() == (0, 100)
    fig = accuracy_bars(evaluation_results())
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError, match="EvaluationResult"):
        accuracy_bars({"a": "high"})


def test_history_table_has_a_line_per_epoch_and_the_columns_present():
    rows = [dict(row, seconds=9.87) for row in HISTORY]
    lines = history_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[0].split() == [
        "epoch",
        "loss",
        "train",
        "%",
        "validation",
        "%",
        "5-way",
        "1-shot",
        "%",
        "seconds",
    ]
    assert lines[1].split() == ["1", "3.000", "20.0", "18.0", "81.0", "±", "1.0", "9.9"]
    assert history_table([{"epoch": 1, "loss": 0.5}]).splitlines() == [
        "epoch   loss",
        "    1  0.500",
    ]
    with pytest.raises(ValueError, match="at least one epoch"):
        history_table([])
