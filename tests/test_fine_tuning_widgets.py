"""The fine-tuning explorer's plain functions (what a callback computes and draws) and wiring."""

import pytest
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.methods import METHODS
from fewshot_utils.viz.fine_tuning import fine_tuning_figure
from fewshot_utils.widgets import fine_tuning as module
from fewshot_utils.widgets.fine_tuning import (
    BASE_METHOD,
    explorer_config,
    fine_tuning_explorer,
    fine_tuning_state,
    with_default,
)

#: The toy clusters of these tests (``make_clusters`` in conftest.py).
TOY = dict(classes=25, per_class=20, dim=16, noise=0.225)


def test_explorer_config_starts_from_the_package_defaults():
    assert explorer_config() == METHODS[BASE_METHOD]
    config = explorer_config(entropy_weight=1.0, lr=0.5, steps=3, classifier="cosine")
    assert (config.entropy_weight, config.lr, config.steps, config.classifier) == (
        1.0,
        0.5,
        3,
        "cosine",
    )
    assert config.scale == METHODS[BASE_METHOD].scale  # not given: kept
    assert explorer_config(init="random").init == "random"
    assert with_default((1, 10), 5) == (1, 5, 10) and with_default((1, 10), 10) == (1, 10)


def test_state_matches_evaluate_on_the_same_episodes(clusters):
    features, labels = clusters(**TOY)
    state = fine_tuning_state(
        features, labels, ways=5, shots=1, entropy_weight=0.1, lr=1e-2, steps=6, episodes=20
    )
    assert state["config"] == FineTuning(entropy_weight=0.1, lr=1e-2, steps=6)
    episodes = sample_episodes(labels, 5, 1, 15, 20, seed=0)
    tuned = evaluate(features, episodes, state["config"])
    prototype = evaluate(features, episodes, "prototype")
    assert state["fine_tuned"] == pytest.approx((tuned.accuracy, tuned.ci95))
    assert state["prototype"] == pytest.approx((prototype.accuracy, prototype.ci95))
    assert state["difference"][0] == pytest.approx(tuned.accuracy - prototype.accuracy)
    assert len(state["accuracy_per_step"]) == len(state["support_loss_per_step"]) == 7
    assert state["accuracy_per_step"][-1] == pytest.approx(tuned.accuracy, abs=1e-3)
    assert state["accuracy_per_step"][0] == pytest.approx(prototype.accuracy, abs=1e-3)
    assert float(state["shares"].sum()) == pytest.approx(100.0)
    assert state["top_share"] == float(state["shares"][0])


def test_zero_steps_from_prototypes_is_the_prototype_classifier(clusters):
    features, labels = clusters(**TOY)
    state = fine_tuning_state(features, labels, ways=5, shots=2, steps=0, episodes=30)
    assert state["fine_tuned"] == state["prototype"]
    assert state["difference"] == (0.0, 0.0)
    assert torch.equal(state["shares"], state["prototype_shares"])


def test_a_large_entropy_weight_collapses_the_predictions(clusters):
    features, labels = clusters(**TOY)
    calm = fine_tuning_state(features, labels, 20, 1, entropy_weight=0.0, lr=1e-2, episodes=20)
    collapsed = fine_tuning_state(
        features, labels, 20, 1, entropy_weight=3.0, lr=1e-1, steps=50, episodes=20
    )
    assert collapsed["top_share"] > 2 * calm["top_share"]
    assert collapsed["fine_tuned"][0] < calm["fine_tuned"][0] - 10


def test_figure(clusters):
    features, labels = clusters(**TOY)
    state = fine_tuning_state(features, labels, 5, 1, steps=4, episodes=20)
    fig = fine_tuning_figure(state)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "paired difference" in fig.axes[0].get_title()
    assert fig._suptitle.get_text() == state["config"].describe()
    legend = fig.axes[1].get_legend_handles_labels()[1]
    assert "prototype classifier" in legend and "truth: 20% per class" in legend
    assert any(label.startswith("fine-tuned: top class") for label in legend)
    zero = fine_tuning_figure(fine_tuning_state(features, labels, 5, 1, steps=0, episodes=20))
    assert isinstance(zero, Figure)  # a single point (0 steps) draws too


def test_explorer_wiring(monkeypatch, clusters):
    features, labels = clusters(**TOY)
    calls = []

    def recording(*arguments, **keywords):
        calls.append((arguments[2:], dict(keywords)))
        keywords["episodes"] = 5  # keep the test fast
        return fine_tuning_state(*arguments, **keywords)

    monkeypatch.setattr(module, "fine_tuning_state", recording)
    widget = fine_tuning_explorer(features, labels, ways=5, shots=1, episodes=50)
    left, right = widget.children[0].children
    setting, head, start = left.children
    entropy_weight, lr, steps = right.children
    base = METHODS[BASE_METHOD]
    assert len(calls) == 1  # drawn once when built, with the package's defaults
    (ways, shots), keywords = calls[0]
    assert (ways, shots) == (5, 1) and keywords["episodes"] == 50
    assert keywords["entropy_weight"] == base.entropy_weight and keywords["lr"] == base.lr
    assert keywords["steps"] == base.steps and keywords["classifier"] == base.classifier
    entropy_weight.value = 1.0
    assert calls[-1][1]["entropy_weight"] == 1.0
    setting.value = (20, 1)
    head.value = "cosine"
    assert calls[-1][0] == (20, 1) and calls[-1][1]["classifier"] == "cosine"
    start.value = "random"
    assert calls[-1][1]["init"] == "random" and len(calls) == 5
    lr.value, steps.value = 1e-3, 25
    assert (calls[-1][1]["lr"], calls[-1][1]["steps"]) == (1e-3, 25)


def test_explorer_starts_from_a_given_state_without_recomputing(monkeypatch, clusters):
    features, labels = clusters(**TOY)
    state = fine_tuning_state(
        features, labels, 5, 5, entropy_weight=0.3, lr=2e-2, steps=7, episodes=12
    )
    calls = []
    monkeypatch.setattr(module, "fine_tuning_state", lambda *a, **k: calls.append(k) or state)
    widget = fine_tuning_explorer(features, labels, state=state)
    assert calls == []  # the given state is drawn as it is
    left, right = widget.children[0].children
    assert left.children[0].value == (5, 5)
    assert [c.value for c in right.children] == [0.3, 2e-2, 7]  # values added to the options
    right.children[2].value = 25
    assert calls[-1]["steps"] == 25 and calls[-1]["episodes"] == 12
