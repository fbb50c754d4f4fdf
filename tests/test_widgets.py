"""The widgets' plain functions (what a callback computes and draws) and their wiring."""

import pytest
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.prototypes import prototypes
from fewshot_utils.viz.prototypes import episode_explorer_figure
from fewshot_utils.viz.similarity import cosine_demo_figure
from fewshot_utils.widgets import episodes as widgets_module
from fewshot_utils.widgets.cosine import (
    PROTOTYPE_ANGLES,
    cosine_demo,
    cosine_demo_state,
    vector,
)
from fewshot_utils.widgets.episodes import (
    episode_explorer,
    explore_episode,
)

#: The toy clusters of these tests (``make_clusters`` in conftest.py).
TOY = dict(classes=8, per_class=20, dim=12, noise=0.05)


def test_vector_from_angle_and_length():
    assert torch.allclose(vector(0, 2.0), torch.tensor([2.0, 0.0]))
    assert torch.allclose(vector(90, 1.5), torch.tensor([0.0, 1.5]), atol=1e-6)


def test_cosine_demo_state_numbers():
    state = cosine_demo_state(angle_a=0, length_a=2, angle_b=60, length_b=3)
    assert state["norm_a"] == pytest.approx(2) and state["norm_b"] == pytest.approx(3)
    assert state["cosine"] == pytest.approx(0.5, abs=1e-6)
    assert state["inner_product"] == pytest.approx(3.0, abs=1e-5)  # 2 · 3 · cos 60°
    assert state["angle"] == pytest.approx(60, abs=1e-3)
    assert state["prototypes"].shape == (len(PROTOTYPE_ANGLES), 2)
    assert torch.allclose(state["prototypes"].norm(dim=1), torch.ones(3))
    for key in ("p_cosine", "p_inner"):
        assert state[key].sum() == pytest.approx(1.0)
    assert int(state["p_cosine"].argmax()) == 0  # a points along m_1


@pytest.mark.parametrize("angle_b, expected", [(30, 1.0), (210, -1.0), (120, 0.0)])
def test_cosine_demo_parallel_antiparallel_orthogonal(angle_b, expected):
    state = cosine_demo_state(angle_a=30, length_a=0.5, angle_b=angle_b, length_b=2.5)
    assert state["cosine"] == pytest.approx(expected, abs=1e-6)


def test_length_changes_inner_product_softmax_but_not_cosine_softmax():
    short = cosine_demo_state(angle_a=20, length_a=0.5)
    long = cosine_demo_state(angle_a=20, length_a=3.0)
    assert torch.allclose(short["p_cosine"], long["p_cosine"])
    assert float(long["p_inner"].max()) > float(short["p_inner"].max()) + 0.2
    assert short["cosine"] == pytest.approx(long["cosine"])
    sharp = cosine_demo_state(angle_a=20, length_a=0.5, scale=10)
    assert float(sharp["p_cosine"].max()) > float(short["p_cosine"].max())


def test_cosine_demo_figure_and_widget(monkeypatch):
    fig = cosine_demo_figure(cosine_demo_state())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "cos(a, b) = " in fig.axes[0].get_title()
    drawn = []

    def recording(state):
        drawn.append(state)
        return cosine_demo_figure(state)

    monkeypatch.setattr("fewshot_utils.widgets.cosine.cosine_demo_figure", recording)
    widget = cosine_demo()
    sliders = widget.children[0].children[0].children
    sliders[0].value = 90.0  # fires the callback: state, then figure
    # The last drawing is of a at 90 degrees: straight up, its length unchanged.
    a = drawn[-1]["a"]
    assert a[0].item() == pytest.approx(0.0, abs=1e-6) and a[1].item() > 0
    assert drawn[-1]["norm_a"] == pytest.approx(drawn[0]["norm_a"])


def test_explore_episode_is_the_prototype_classifier(toy_split):
    features, split = toy_split(**TOY)
    state = explore_episode(features, split, ways=4, shots=3, seed=5, query=2)
    assert state["support"].shape == (4, 3)
    assert len(state["class_names"]) == 4 and state["true"] == 2
    assert (split.labels[state["support"]] == state["classes"].unsqueeze(1)).all()
    assert split.labels[state["query_image"]] == state["classes"][2]
    assert state["query_image"] not in state["support"].flatten().tolist()
    M = prototypes(features[state["support"]])
    expected = M @ l2_normalize(features[state["query_image"]])
    assert torch.allclose(state["cosines"], expected, atol=1e-6)
    assert torch.allclose(state["probabilities"], expected.softmax(0), atol=1e-6)
    assert state["predicted"] == int(expected.argmax()) == 2 and state["correct"]
    assert state["episode_correct"] == 4  # well-separated classes: every query right
    again = explore_episode(features, split, ways=4, shots=3, seed=5, query=2)
    assert torch.equal(again["support"], state["support"])
    other = explore_episode(features, split, ways=4, shots=3, seed=6, query=2)
    assert not torch.equal(other["support"], state["support"])


def test_explore_episode_scale_and_errors(toy_split):
    features, split = toy_split(**TOY | {"noise": 3.0})
    plain = explore_episode(features, split, ways=5, shots=1, seed=0, query=0)
    sharp = explore_episode(features, split, ways=5, shots=1, seed=0, query=0, scale=10)
    assert sharp["predicted"] == plain["predicted"]
    assert float(sharp["probabilities"].max()) > float(plain["probabilities"].max())
    with pytest.raises(ValueError, match=r"0 \.\. 4"):
        explore_episode(features, split, ways=5, shots=1, seed=0, query=5)


def test_episode_figure_right_and_wrong(toy_split):
    features, split = toy_split(**TOY | {"noise": 3.0})
    states = [explore_episode(features, split, 6, 2, seed, q) for seed in range(6) for q in (0, 3)]
    verdicts = {state["correct"] for state in states}
    assert verdicts == {True, False}  # noisy features: some right, some wrong
    for state in states[:4]:
        fig = episode_explorer_figure(state, split.images)
        assert isinstance(fig, Figure) and len(fig.axes) == 3
        title = fig.axes[0].get_title()
        assert ("right" in title) == state["correct"]


def test_episode_explorer_wiring(monkeypatch, toy_split):
    features, split = toy_split(**TOY)
    calls = []

    def recording(*arguments, **keywords):
        calls.append(arguments[2:])  # (ways, shots, seed, query)
        return explore_episode(*arguments, **keywords)

    monkeypatch.setattr(widgets_module, "explore_episode", recording)
    widget = episode_explorer(features, split, max_ways=20, max_shots=30)
    ways, shots, seed, query = widget.children[0].children
    assert ways.max == 8  # only 8 classes
    assert shots.max == 19  # 20 drawings: one left for the query
    assert calls == [(5, 1, 0, 0)]  # drawn once when built
    query.value = 4
    ways.value = 3  # the query slider shrinks to 0 .. 2
    assert query.max == 2 and query.value == 2
    seed.value = 7
    assert calls[-1] == (3, 1, 7, 2)
