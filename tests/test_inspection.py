"""Inspection: feature lengths, similarity matrices, nearest neighbours, mistakes, sweeps."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.fewshot.inspection import (
    AccuracySweep,
    accuracy_sweep,
    block_similarities,
    correlation,
    feature_norms,
    ink,
    inner_product_matrix,
    nearest_neighbour_accuracy,
    nearest_neighbours,
    pick_class_drawings,
    within_between,
    wrong_queries,
)
from fewshot_utils.viz.prototypes import accuracy_sweep_figure, wrong_queries_figure
from fewshot_utils.viz.similarity import (
    nearest_neighbours_figure,
    norm_spread_figure,
    similarity_matrices_figure,
)
from fewshot_utils.viz.style import mosaic

#: The toy clusters of these tests (``make_clusters`` in conftest.py).
TOY = dict(classes=12, per_class=20, dim=16, noise=0.3, lengths=True, images=True)


def test_mosaic_places_tiles_row_by_row():
    images = torch.arange(6, dtype=torch.uint8).view(2, 3, 1, 1).expand(2, 3, 4, 4)
    canvas = mosaic(images, pad=2)
    assert canvas.shape == (2 * 6 + 2, 3 * 6 + 2)
    assert canvas[2, 2] == 0 and canvas[2, 2 + 6] == 1 and canvas[2 + 6, 2 + 12] == 5
    assert canvas[0, 0] == 110  # the grey padding
    with pytest.raises(ValueError, match=r"\[R, C, H, W\]"):
        mosaic(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_norms_ink_and_correlation():
    features = torch.tensor([[3.0, 4.0], [0.0, 0.5]])
    assert torch.allclose(feature_norms(features), torch.tensor([5.0, 0.5]))
    images = torch.zeros(2, 4, 4, dtype=torch.uint8)
    images[1, :2] = 255  # half the pixels are stroke
    assert torch.allclose(ink(images), torch.tensor([0.0, 0.5]))
    x = torch.arange(10.0)
    assert correlation(x, 2 * x + 1) == pytest.approx(1.0)
    assert correlation(x, -x) == pytest.approx(-1.0)


def test_norm_spread_figure(clusters):
    features, _, images = clusters(
        classes=12, per_class=20, dim=16, noise=0.3, lengths=True, images=True
    )
    fig = norm_spread_figure(features, images, examples=4, points=50)
    assert isinstance(fig, Figure) and len(fig.axes) == 3


def test_pick_class_drawings_gives_one_class_per_row(clusters):
    _, labels, _ = clusters(**TOY)
    indices = pick_class_drawings(labels, classes=5, drawings=4, seed=3)
    assert indices.shape == (5, 4)
    rows = labels[indices]
    assert (rows == rows[:, :1]).all() and len(set(rows[:, 0].tolist())) == 5
    assert torch.equal(indices, pick_class_drawings(labels, 5, 4, seed=3))


def test_within_between_leaves_out_the_diagonal():
    similarity = torch.tensor([[9.0, 1.0, 0.0], [1.0, 9.0, 0.2], [0.0, 0.2, 9.0]])
    within, between = within_between(similarity, torch.tensor([0, 0, 1]))
    assert within == pytest.approx(1.0)
    assert between == pytest.approx((0.0 + 0.2 + 0.0 + 0.2) / 4)


def test_similarity_matrices_show_blocks_for_clustered_features(clusters):
    features, labels, images = clusters(
        classes=12, per_class=20, dim=16, noise=0.3, lengths=True, images=True
    )
    indices = pick_class_drawings(labels, classes=4, drawings=3)
    assert torch.allclose(inner_product_matrix(features[:3]), features[:3] @ features[:3].T)
    fig = similarity_matrices_figure(features, images, indices)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("cosine" in t for t in titles) and any("inner product" in t for t in titles)


def test_nearest_neighbours_match_brute_force_and_skip_the_query(clusters):
    features, labels, _ = clusters(
        classes=12, per_class=20, dim=16, noise=0.3, lengths=True, images=True
    )
    queries = torch.tensor([0, 37, 100])
    found = nearest_neighbours(features, queries, k=4, chunk_size=2)
    assert found.indices.shape == found.similarities.shape == (3, 4)
    normalised = l2_normalize(features)
    for row, query in enumerate(queries.tolist()):
        similarity = normalised @ normalised[query]
        similarity[query] = -math.inf
        assert torch.equal(found.indices[row], similarity.topk(4).indices)
        assert query not in found.indices[row].tolist()
    assert (found.similarities[:, :-1] >= found.similarities[:, 1:]).all()
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(features, queries, k=0)
    with pytest.raises(ValueError, match="measure must be"):
        nearest_neighbours(features, queries, measure="euclid")


def test_inner_product_neighbours_favour_long_vectors():
    features = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 10.0], [0.2, 5.0]])
    by_cosine = nearest_neighbours(features, torch.tensor([0]), k=1)
    by_inner = nearest_neighbours(features, torch.tensor([0]), k=1, measure="inner product")
    assert int(by_cosine.indices[0, 0]) == 1  # same direction
    assert int(by_inner.indices[0, 0]) == 1
    by_inner = nearest_neighbours(features, torch.tensor([1]), k=1, measure="inner product")
    assert int(by_inner.indices[0, 0]) == 2  # 0.1 * 10 = 1.0 beats 0.9 * 1 = 0.9
    labels = torch.tensor([0, 0, 1, 1])
    assert nearest_neighbour_accuracy(features, labels, queries=4) == 100.0
    assert nearest_neighbour_accuracy(features, labels, 4, measure="inner product") < 100.0


def test_nearest_neighbour_accuracy(clusters):
    features, labels, _ = clusters(
        classes=12, per_class=20, dim=16, noise=0.05, lengths=True, images=True
    )
    assert nearest_neighbour_accuracy(features, labels, queries=50) == 100.0
    noisy, labels, _ = clusters(
        classes=12, per_class=20, dim=16, noise=5.0, lengths=True, images=True
    )
    assert nearest_neighbour_accuracy(noisy, labels, queries=100) < 60.0


def test_nearest_neighbours_figure(clusters):
    features, labels, images = clusters(
        classes=12, per_class=20, dim=16, noise=0.3, lengths=True, images=True
    )
    found = nearest_neighbours(features, torch.tensor([0, 50]), k=3)
    fig = nearest_neighbours_figure(images, labels, found)
    assert len(fig.axes) == 2 * 4


def test_wrong_queries_agree_with_evaluate(clusters):
    features, labels, images = clusters(
        classes=12, per_class=20, dim=16, noise=0.9, lengths=True, images=True
    )
    episodes = sample_episodes(labels, ways=5, shots=2, queries=5, episodes=40, seed=1)
    wrong = wrong_queries(features, episodes)
    result = evaluate(features, episodes)
    total = 40 * 5 * 5
    assert len(wrong) == round(total * (1 - result.accuracy / 100))
    assert len(wrong) > 0
    for item in wrong[:10]:
        assert item.true != item.predicted
        assert item.predicted_similarity >= item.true_similarity
        assert item.predicted_probability >= item.true_probability
        assert (labels[item.true_support] == labels[item.image]).all()
        assert (labels[item.predicted_support] != labels[item.image]).all()
        assert item.true_support.shape == (2,)
    clearest = wrong_queries(features, episodes, limit=5, order="clearest")
    assert len(clearest) == 5
    margins = [item.predicted_similarity - item.true_similarity for item in clearest]
    assert margins == sorted(margins, reverse=True)
    largest = max(item.predicted_similarity - item.true_similarity for item in wrong)
    assert margins[0] == pytest.approx(largest)
    closest = wrong_queries(features, episodes, limit=5, order="closest")
    margins = [item.predicted_similarity - item.true_similarity for item in closest]
    assert margins == sorted(margins) and margins[0] >= 0
    in_order = [item.episode for item in wrong]
    assert in_order == sorted(in_order)  # the default order: episode by episode
    with pytest.raises(ValueError, match="order must be"):
        wrong_queries(features, episodes, order="confidence")
    fig = wrong_queries_figure(images, clearest[:3])
    assert len(fig.axes) == 3 * 3
    with pytest.raises(ValueError, match="no wrong queries"):
        wrong_queries_figure(images, [])


def test_wrong_queries_distinct_keeps_each_image_once(clusters):
    features, labels, _ = clusters(
        classes=6, per_class=20, dim=16, noise=1.0, lengths=True, images=True
    )
    episodes = sample_episodes(labels, ways=5, shots=1, queries=10, episodes=60, seed=0)
    every = wrong_queries(features, episodes, order="clearest")
    distinct = wrong_queries(features, episodes, order="clearest", distinct=True)
    images = [item.image for item in every]
    assert len(images) > len(set(images))  # 6 classes, 60 episodes: queries repeat
    assert [item.image for item in distinct] == list(dict.fromkeys(images))


def test_accuracy_sweep_matches_evaluate_and_caps_queries(clusters):
    features, labels, _ = clusters(
        classes=12, per_class=20, dim=16, noise=0.8, lengths=True, images=True
    )
    sweep = accuracy_sweep(features, labels, ways=(2, 5), shots=(1, 10), episodes=30, seed=2)
    assert sweep.queries == [15, 10]  # 20 images per class: 10 shots leave 10 queries
    assert sweep.accuracy.shape == sweep.ci95.shape == (2, 2)
    again = evaluate(features, sample_episodes(labels, 5, 10, 10, 30, seed=2))
    assert float(sweep.accuracy[1, 1]) == pytest.approx(again.accuracy)
    assert float(sweep.ci95[1, 1]) == pytest.approx(again.ci95)
    assert (sweep.accuracy[1] >= sweep.accuracy[0] - 5).all()  # more shots help (roughly)
    table = sweep.table()
    assert "2-way" in table and "10-shot (10 q.)" in table and "±" in table
    assert isinstance(accuracy_sweep_figure(sweep), Figure)
    with pytest.raises(ValueError, match="leave no queries"):
        accuracy_sweep(features, labels, ways=(2,), shots=(20,), episodes=2)


def test_sweep_table_layout():
    sweep = AccuracySweep(
        [2, 50], [1], [15], 1000, torch.tensor([[99.5, 80.25]]), torch.tensor([[0.1, 0.2]]), 1.0
    )
    lines = sweep.table().splitlines()
    assert lines[1] == " 1-shot (15 q.)    99.50 ± 0.10   80.25 ± 0.20"
    assert len(lines[0]) == len(lines[1])
    assert np.isclose(float(sweep.accuracy[0, 1]), 80.25)


def test_block_similarities_by_hand():
    features = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    means = block_similarities(features, torch.tensor([[0, 1], [2, 3]]))
    # same class: 1·2 and 3·1 -> 2.5; different: 0 everywhere
    assert means["raw inner product"] == pytest.approx((2.5, 0.0))
    assert means["cosine"] == pytest.approx((1.0, 0.0))
    assert list(means) == ["raw inner product", "cosine"]


def test_block_similarities_separate_clusters(clusters):
    features, labels, _ = clusters(**TOY)  # lengths say nothing of the class
    indices = pick_class_drawings(labels, classes=4, drawings=3)
    means = block_similarities(features, indices)
    assert means["cosine"][0] > means["cosine"][1]
    assert means["raw inner product"][0] > means["raw inner product"][1]
