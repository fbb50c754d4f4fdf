"""Diagnostics of fine-tuning: curves, where predictions go, calibration, sweeps, comparisons."""

import math

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from fewshot_utils.fewshot.calibration import Reliability, expected_calibration_error, reliability
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import (
    by_method,
    episode_chunks,
    episode_probabilities,
    evaluate,
    evaluate_methods,
    sweep,
)
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.inspection import predicted_class_shares, record_fine_tuning
from fewshot_utils.fewshot.softmax_classifier import FineTuningHistory
from fewshot_utils.viz.calibration import reliability_diagram
from fewshot_utils.viz.fine_tuning import (
    accuracy_zoom,
    curve_mean_and_ci,
    fine_tuning_curves,
    predicted_class_histogram,
    sweep_figure,
)
from fewshot_utils.viz.style import (
    METHOD_COLOURS,
    PROTOTYPE_COLOUR,
    SERIES_COLOURS,
    method_colour,
    method_style,
)
from fewshot_utils.viz.tables import comparison_table, fine_tuning_table, sweep_table

# ----------------------------------------------------------------------------
# Curves
# ----------------------------------------------------------------------------


#: The toy clusters of these tests (``make_clusters`` in conftest.py).
TOY = dict(classes=12, per_class=20, dim=16, noise=0.225)


def test_curve_mean_and_ci_by_hand():
    values = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, 4.0]])  # 3 steps, 2 episodes
    mean, ci = curve_mean_and_ci(values)
    assert mean.tolist() == [2.0, 2.0, 2.0]
    # std of (1, 3) = √2 (E - 1 denominator): ci = 1.96 √2 / √2 = 1.96
    assert ci == pytest.approx([1.96, 0.0, 1.96 * math.sqrt(8) / math.sqrt(2)])
    mean, ci = curve_mean_and_ci(torch.tensor([5.0, 6.0]))  # one episode: no interval
    assert mean.tolist() == [5.0, 6.0] and all(math.isnan(c) for c in ci.tolist())


def test_episode_chunks_cover_every_episode_once(clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 2, queries=3, episodes=23, seed=0)
    chunks = list(episode_chunks(features, episodes, chunk_size=10))
    assert [len(index) for index, *_ in chunks] == [10, 10, 3]
    assert torch.equal(torch.cat([index for index, *_ in chunks]), torch.arange(23))
    index, support, query, query_labels = chunks[2]
    assert support.shape == (3, 5, 2, 16) and query.shape == (3, 15, 16)
    assert torch.equal(support[0], features[episodes.support[20]])
    assert query_labels.shape == (3, 15)
    with pytest.raises(ValueError, match="chunk_size"):
        next(episode_chunks(features, episodes, chunk_size=0))


def test_record_fine_tuning_starts_at_the_prototype_classifier(clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 1, queries=5, episodes=30, seed=1)
    config = FineTuning(steps=7)
    history = record_fine_tuning(features, episodes, config)
    assert history.support_loss.shape == history.query_accuracy.shape == (8, 30)
    assert history.query_entropy.shape == (8, 30)
    prototype = evaluate(features, episodes, "prototype")
    # Row 0 is W = M, b = 0: the prototype classifier, episode by episode
    assert torch.allclose(history.query_accuracy[0].double(), prototype.per_episode, atol=1e-4)
    tuned = evaluate(features, episodes, config)  # the last row is the fine-tuned classifier
    assert torch.allclose(history.query_accuracy[-1].double(), tuned.per_episode, atol=1e-4)
    assert float(history.support_loss[-1].mean()) < float(history.support_loss[0].mean())
    chunked = record_fine_tuning(features, episodes, FineTuning("random", steps=3), chunk_size=7)
    whole = record_fine_tuning(features, episodes, FineTuning("random", steps=3), chunk_size=30)
    for field in ("support_loss", "query_entropy", "query_accuracy"):
        assert torch.allclose(getattr(chunked, field), getattr(whole, field), atol=1e-5)


def test_fine_tuning_curves_panels_and_reference(clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 1, queries=5, episodes=20, seed=2)
    histories = {
        "random init": record_fine_tuning(features, episodes, FineTuning("random", steps=5)),
        "W = M": record_fine_tuning(features, episodes, FineTuning(steps=5)),
    }
    fig = fine_tuning_curves(histories, reference={"W = M": 80.0, "random init": 80.0})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    accuracy_axes = fig.axes[1]
    assert "accuracy" in accuracy_axes.get_title()
    labels_drawn = accuracy_axes.get_legend_handles_labels()[1]
    assert "random init (20 episodes)" in labels_drawn
    assert "prototype classifier (W = M)" in labels_drawn
    assert fig.axes[0].get_yscale() == "log"
    assert accuracy_axes.get_ylim()[1] <= 100.5 and accuracy_axes.get_ylim()[0] > 0
    assert fine_tuning_curves(histories, zoom=False).axes[1].get_ylim()[0] < 25
    one = fine_tuning_curves(histories["W = M"], reference=75.0, panels=["query_accuracy"])
    assert len(one.axes) == 1
    assert "prototype classifier" in one.axes[0].get_legend_handles_labels()[1]


def test_accuracy_zoom_skips_the_climb_from_chance():
    climb = np.array([20.0, 60.0, 93.0, 94.0, 95.0, 95, 95, 95, 95, 95, 95.2])  # steps 0 .. 10
    assert accuracy_zoom([climb], [96.0]) == (91.0, 97.0)  # skips steps 0, 1 (the first fifth)
    assert accuracy_zoom([climb], [96.0], skip=0.5) == (93.0, 97.0)
    assert accuracy_zoom([np.array([99.9])], [99.7]) == (97.0, 100.5)
    assert accuracy_zoom([]) == (0.0, 100.5)


def test_fine_tuning_curves_errors():
    history = FineTuningHistory(torch.rand(3, 2), torch.rand(3, 2), None)
    with pytest.raises(ValueError, match="unknown panel"):
        fine_tuning_curves(history, panels=["loss"])
    with pytest.raises(ValueError, match="no query accuracy"):
        fine_tuning_curves(history, panels=["query_accuracy"])
    assert len(fine_tuning_curves(history).axes) == 2  # accuracy panel left out
    with pytest.raises(ValueError, match="record=True"):
        fine_tuning_curves({"x": torch.rand(3, 2)})


# ----------------------------------------------------------------------------
# Where the predictions go
# ----------------------------------------------------------------------------


def test_predicted_class_shares_by_hand():
    predictions = torch.tensor([[0, 0, 0, 1], [2, 2, 1, 1]])
    # episode 0: counts (3, 1, 0) -> 75, 25, 0 %; episode 1: (0, 2, 2) -> sorted 50, 50, 0 %
    shares = predicted_class_shares(predictions, ways=3)
    assert shares.tolist() == pytest.approx([62.5, 37.5, 0.0])
    assert predicted_class_shares(torch.tensor([1, 1, 1, 1]), 2).tolist() == [100.0, 0.0]
    balanced = torch.arange(5).repeat_interleave(3).expand(4, -1)
    assert predicted_class_shares(balanced, 5).tolist() == pytest.approx([20.0] * 5)
    with pytest.raises(ValueError, match="0 .. 2"):
        predicted_class_shares(torch.tensor([[0, 3]]), 3)


def test_predicted_class_histogram():
    collapsed = torch.zeros(4, 10, dtype=torch.long)
    balanced = torch.arange(5).repeat_interleave(2).expand(4, -1)
    fig = predicted_class_histogram({"collapsed": collapsed, "balanced": balanced}, ways=5)
    assert isinstance(fig, Figure)
    legend = fig.axes[0].get_legend_handles_labels()[1]
    assert "collapsed: top class 100%" in legend and "balanced: top class 20%" in legend
    assert "truth: 20% per class" in legend


# ----------------------------------------------------------------------------
# Calibration
# ----------------------------------------------------------------------------


def test_reliability_by_hand():
    # 4 queries, 2 classes. Confidences 0.95, 0.95 (right, wrong), 0.65 (right), 0.55 (wrong).
    probabilities = torch.tensor([[0.95, 0.05], [0.05, 0.95], [0.65, 0.35], [0.45, 0.55]])
    labels = torch.tensor([0, 0, 0, 0])
    rel = reliability(probabilities, labels, bins=10)
    assert isinstance(rel, Reliability)
    assert rel.count.tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 2]
    assert rel.confidence[9] == pytest.approx(0.95) and rel.accuracy[9] == pytest.approx(0.5)
    assert rel.accuracy[6] == 1.0 and rel.accuracy[5] == 0.0
    assert np.isnan(rel.confidence[0]) and np.isnan(rel.accuracy[0])
    # ECE = 2/4 |0.5 - 0.95| + 1/4 |1 - 0.65| + 1/4 |0 - 0.55| = 0.225 + 0.0875 + 0.1375 = 0.45
    assert rel.ece == pytest.approx(0.45)
    assert rel.mean_accuracy == pytest.approx(0.5)
    assert rel.mean_confidence == pytest.approx(0.775)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.45)


def test_reliability_edges_and_batches():
    certain = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # [E=1, Q=2, N=3]
    rel = reliability(certain, torch.tensor([[0, 2]]), bins=5)
    assert rel.count.tolist() == [0, 0, 0, 0, 2]  # confidence 1 falls in the last bin
    assert rel.ece == 0.0
    with pytest.raises(ValueError, match="labels"):
        reliability(certain, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="bins"):
        reliability(certain, torch.tensor([[0, 2]]), bins=0)


def test_scaling_logits_changes_calibration_not_accuracy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 5, generator=generator)
    labels = torch.randint(0, 5, (500,), generator=generator)
    cold, hot = (
        reliability((logits * 0.1).softmax(-1), labels),
        reliability((logits * 10).softmax(-1), labels),
    )
    assert cold.mean_accuracy == hot.mean_accuracy
    assert hot.mean_confidence > 0.9 > 0.3 > cold.mean_confidence
    assert hot.ece > 0.5  # random labels, confident predictions: badly calibrated


def test_reliability_diagram():
    probabilities = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([0, 0, 0])
    fig = reliability_diagram(
        {"s = 1": reliability(probabilities, labels), "s = 10": reliability(probabilities, labels)}
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "ECE" in fig.axes[0].get_title() and fig.axes[0].get_title().startswith("s = 1")
    assert len(reliability_diagram(reliability(probabilities, labels)).axes) == 2


# ----------------------------------------------------------------------------
# Probabilities, sweeps, comparisons
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["prototype", FineTuning(steps=5), FineTuning("random", steps=5)]
)
def test_episode_probabilities_match_evaluate(method, clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 2, queries=4, episodes=25, seed=3)
    p, query_labels = episode_probabilities(features, episodes, method, chunk_size=7)
    assert p.shape == (25, 20, 5) and query_labels.shape == (25, 20)
    assert torch.allclose(p.sum(-1), torch.ones(25, 20))
    accuracy = 100.0 * (p.argmax(-1) == query_labels).double().mean(1)
    assert torch.allclose(accuracy, evaluate(features, episodes, method).per_episode)


def test_prototype_scale_changes_probabilities_not_predictions(clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 1, queries=4, episodes=10, seed=4)
    p1, _ = episode_probabilities(features, episodes, "prototype", scale=1.0)
    p30, _ = episode_probabilities(features, episodes, "prototype", scale=30.0)
    assert torch.equal(p1.argmax(-1), p30.argmax(-1))
    assert float(p30.max(-1).values.mean()) > float(p1.max(-1).values.mean())


def test_sweep_is_evaluate_with_one_field_changed(clusters):
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 1, queries=4, episodes=15, seed=5)
    config = FineTuning(steps=4)
    results = sweep(features, episodes, config, "lr", [1e-3, 1e-1])
    assert [r.config.lr for r in results] == [1e-3, 1e-1]
    direct = evaluate(features, episodes, FineTuning(steps=4, lr=1e-1))
    assert torch.equal(results[1].per_episode, direct.per_episode)
    zero_steps = sweep(features, episodes, config, "steps", [0])[0]
    prototype = evaluate(features, episodes, "prototype")
    assert torch.equal(zero_steps.per_episode, prototype.per_episode)
    with pytest.raises(ValueError, match="unknown parameter 'learning_rate'"):
        sweep(features, episodes, config, "learning_rate", [0.1])


def test_sweep_figure(clusters):
    fig = sweep_figure(
        [0, 0.1, 1],
        {"lr 1e-2": [(90, 1), (91, 1), (40, 2)], "lr 1e-3": [(90, 1), (90.5, 1), (85, 1)]},
        xlabel="λ",
        reference=(90.0, 0.5),
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.1", "1"]
    assert "prototype classifier" in ax.get_legend_handles_labels()[1]
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, 5, 1, queries=4, episodes=10, seed=6)
    results = sweep(features, episodes, FineTuning(steps=2), "steps", [0, 2])
    assert isinstance(sweep_figure([0, 2], results, "steps", reference=results[0]), Figure)
    with pytest.raises(ValueError, match="one result per value"):
        sweep_figure([0, 1, 2], results, "steps")


def test_evaluate_methods_and_comparison_table(clusters):
    features, labels = clusters(**TOY)
    results = evaluate_methods(
        features,
        labels,
        ["prototype", FineTuning(steps=0), "finetune-random"],
        settings=((5, 1), (3, 2)),
        episodes=40,
        queries=4,
    )
    assert list(results) == ["5-way 1-shot", "3-way 2-shot"]
    row = results["5-way 1-shot"]
    assert list(row)[0] == "prototype" and "fine-tune (random init)" in row
    assert all(r.episodes == 40 for r in row.values())
    table = comparison_table(results, against=("prototype", "fine-tune (random init)"))
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 6
    assert "Δ vs prototype (points)" in lines[0] and "Δ vs fine-tune (random init)" in lines[0]
    zero_steps = [line for line in lines if "0 steps" in line][0]
    assert "+0.00 ± 0.00" in zero_steps  # W = M with 0 steps is the prototype classifier
    prototype_line = [line for line in lines if "| prototype |" in line][0]
    assert prototype_line.count("—") == 1
    grouped = by_method(results)
    assert list(grouped) == list(row) and all(len(v) == 2 for v in grouped.values())
    assert grouped["prototype"][1] is results["3-way 2-shot"]["prototype"]


def test_comparison_table_bold_when_the_interval_excludes_zero(clusters):
    features, labels = clusters(**TOY)
    results = evaluate_methods(
        features,
        labels,
        {"prototype": "prototype", "broken": FineTuning(entropy_weight=50.0, lr=0.5)},
        settings=((5, 1),),
        episodes=60,
        queries=4,
    )
    broken = [line for line in comparison_table(results).splitlines() if "broken" in line][0]
    assert "**-" in broken  # a collapsed classifier is significantly worse


def test_fine_tuning_and_sweep_tables(clusters):
    features, labels = clusters(**TOY)
    sampled = sample_episodes(labels, 5, 1, queries=5, episodes=10, seed=3)
    history = record_fine_tuning(features, sampled, FineTuning(steps=3))
    lines = fine_tuning_table({"W = M": history}, steps=(0, 3)).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| W = M | 0 |")
    assert f"{float(history.query_accuracy[3].mean()):.1f}" in lines[3]
    table = sweep_table([0, 0.1], {"lr 0.1": [(90.0, 1.0), (91.25, 0.5)]}, "λ", (92.0, 0.3))
    assert table.splitlines()[3] == "| 0.1 | 91.2 ± 0.5 |"  # half to even, as f-strings round
    assert table.splitlines()[-1] == "| prototype classifier | 92.0 ± 0.3 |"


# ----------------------------------------------------------------------------
# One colour per method
# ----------------------------------------------------------------------------


def test_series_colours_never_look_like_a_method():
    methods = {to_rgba(c) for c in METHOD_COLOURS.values()}
    assert not methods & {to_rgba(c) for c in SERIES_COLOURS}
    assert method_colour("lr 0.1", 0) == SERIES_COLOURS[0]
    assert method_colour("W = M + cosine") == METHOD_COLOURS["W = M + cosine"]


def test_a_variant_keeps_its_methods_colour_and_is_marked():
    assert method_style("W = M + entropy") == (METHOD_COLOURS["W = M + entropy"], False)
    assert method_style("W = M + entropy (λ = 1)") == (METHOD_COLOURS["W = M + entropy"], True)
    assert (
        method_style("W = M + entropy + cosine (λ = 1)")[0]
        == METHOD_COLOURS["W = M + entropy + cosine"]
    )
    assert method_style("λ = 1", 1) == (SERIES_COLOURS[1], False)
    predictions = torch.zeros(3, 10, dtype=torch.long)
    fig = predicted_class_histogram(
        {"W = M + entropy": predictions, "W = M + entropy (λ = 1)": predictions}, ways=5
    )
    bars = fig.axes[0].patches
    colours = {to_rgba(bar.get_facecolor()) for bar in bars}
    assert colours == {to_rgba(METHOD_COLOURS["W = M + entropy"])}
    assert [bool(bar.get_hatch()) for bar in bars] == [False] * 5 + [True] * 5


def test_curves_on_shared_episodes_draw_one_grey_prototype_line(clusters):
    features, labels = clusters(**TOY)
    sampled = sample_episodes(labels, 5, 1, queries=5, episodes=8, seed=4)
    histories = {
        name: record_fine_tuning(features, sampled, method)
        for name, method in [
            ("fine-tune (random init)", FineTuning("random", steps=3)),
            ("fine-tune (W = M)", FineTuning(steps=3)),
        ]
    }
    ax = fine_tuning_curves(histories, reference=80.0).axes[1]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and to_rgba(dashed[0].get_color()) == to_rgba(PROTOTYPE_COLOUR)
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert [to_rgba(line.get_color()) for line in solid] == [
        to_rgba(METHOD_COLOURS[name]) for name in histories
    ]
    assert math.isfinite(ax.get_ylim()[0])
