"""The episode sampler: shapes, labels, determinism, and its errors."""

import pytest
import torch

from fewshot_utils.fewshot.episodes import sample_episodes


def labels_of(images_per_class: list[int]) -> torch.Tensor:
    return torch.cat([torch.full((n,), c) for c, n in enumerate(images_per_class)])


def test_shapes_and_index_validity():
    labels = labels_of([20] * 30)
    episodes = sample_episodes(labels, ways=5, shots=2, queries=3, episodes=40, seed=1)
    assert episodes.support.shape == (40, 5, 2)
    assert episodes.query.shape == (40, 5, 3)
    assert episodes.classes.shape == (40, 5)
    assert (episodes.ways, episodes.shots, episodes.queries, len(episodes)) == (5, 2, 3, 40)
    # Every image of way n belongs to the episode's n-th class.
    assert torch.equal(labels[episodes.support], episodes.classes.unsqueeze(-1).expand(-1, -1, 2))
    assert torch.equal(labels[episodes.query], episodes.classes.unsqueeze(-1).expand(-1, -1, 3))
    assert torch.equal(episodes.query_labels()[0], torch.arange(5).view(5, 1).expand(5, 3))


def test_classes_and_images_are_distinct_within_an_episode():
    labels = labels_of([6] * 10)
    episodes = sample_episodes(labels, ways=10, shots=1, queries=5, episodes=50, seed=0)
    for e in range(50):
        assert len(set(episodes.classes[e].tolist())) == 10
        chosen = torch.cat([episodes.support[e].flatten(), episodes.query[e].flatten()])
        assert len(set(chosen.tolist())) == 60  # all 6 images of all 10 classes, no repeats


def test_same_seed_same_episodes_other_seed_others():
    labels = labels_of([20] * 50)
    a = sample_episodes(labels, 5, 1, 15, 100, seed=7)
    torch.manual_seed(123)  # the global generator must not matter
    b = sample_episodes(labels, 5, 1, 15, 100, seed=7)
    c = sample_episodes(labels, 5, 1, 15, 100, seed=8)
    assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    assert not torch.equal(a.support, c.support)


def test_classes_are_roughly_uniform():
    labels = labels_of([20] * 10)
    episodes = sample_episodes(labels, 2, 1, 1, 5000, seed=0)
    counts = torch.bincount(episodes.classes.flatten(), minlength=10).float()
    assert counts.min() > 0.85 * counts.mean()


def test_unequal_class_sizes_only_use_classes_that_have_enough_images():
    labels = labels_of([20, 3, 20, 20])
    episodes = sample_episodes(labels, 3, 1, 4, 200, seed=0)
    assert 1 not in episodes.classes.tolist()


def test_unequal_class_sizes_never_borrow_a_neighbours_images():
    # Classes of 8, 20, 12, 20 and 6 images: the sampler ranks random keys over 20 slots per
    # class, and the slots a smaller class does not fill must never be picked (they would
    # index the next class's images).
    labels = labels_of([8, 20, 12, 20, 6])
    episodes = sample_episodes(labels, ways=5, shots=2, queries=4, episodes=300, seed=3)
    classes = episodes.classes.unsqueeze(-1)
    assert torch.equal(labels[episodes.support], classes.expand(-1, -1, 2))
    assert torch.equal(labels[episodes.query], classes.expand(-1, -1, 4))
    # ... and every image of the smallest class turns up, none twice in an episode.
    smallest = (labels == 4).nonzero().flatten()
    used = torch.cat([episodes.support.flatten(), episodes.query.flatten()])
    assert set(smallest.tolist()) <= set(used.tolist())
    for e in range(20):
        chosen = torch.cat([episodes.support[e].flatten(), episodes.query[e].flatten()])
        assert len(set(chosen.tolist())) == len(chosen)


def test_more_ways_than_classes_names_the_numbers():
    with pytest.raises(
        ValueError, match="20-way episodes need 20 classes, but the split has only 5"
    ):
        sample_episodes(labels_of([20] * 5), ways=20, shots=1, queries=15)


def test_too_many_shots_and_queries_names_the_numbers():
    with pytest.raises(ValueError, match=r"5-shot \+ 16 queries needs 21 images per class"):
        sample_episodes(labels_of([20] * 5), ways=5, shots=5, queries=16)


@pytest.mark.parametrize("field, value", [("ways", 1), ("shots", 0), ("queries", 0)])
def test_nonsense_sizes_are_refused(field, value):
    arguments = {"ways": 5, "shots": 1, "queries": 1, "episodes": 3}
    arguments[field] = value
    with pytest.raises(ValueError, match=field):
        sample_episodes(labels_of([20] * 10), **arguments)


def test_indexing_episodes_keeps_a_batch():
    episodes = sample_episodes(labels_of([20] * 10), 5, 1, 2, 10, seed=0)
    one = episodes[3]
    assert one.support.shape == (1, 5, 1) and torch.equal(one.support[0], episodes.support[3])
