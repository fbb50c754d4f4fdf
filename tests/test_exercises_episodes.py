"""Checkers of notebook 00: right answers pass, each kind of wrong answer gets its hint."""

import pytest
import torch

from fewshot_utils.exercises.episodes import check_episode_size, check_support_labels, episode_size
from fewshot_utils.fewshot.episodes import sample_episodes
from tests.test_pretraining import tiny_split


def test_episode_size_is_n_times_k_plus_q():
    assert episode_size(20, 5, 15) == 400


def test_episode_size_checker(capsys):
    assert check_episode_size(400) is True
    assert "✅" in capsys.readouterr().out
    assert check_episode_size(None) is False
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, hint",
    [
        (100, "only the support set"),
        (300, "only the queries"),
        (20, "one class's images"),
        (1500, "do not multiply"),
        (40, "do not simply add up"),
        (401, "count per class first"),
        ("many", "give a number"),
        ([1, 2], "give a number"),
    ],
)
def test_episode_size_checker_explains_wrong_answers(answer, hint, capsys):
    assert check_episode_size(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("❌") and hint in out


def test_support_labels_checker():
    split = tiny_split(classes=6, per_class=20)
    episodes = sample_episodes(split.labels, 3, 2, episodes=1, seed=0)
    right = split.labels[episodes.support]
    assert check_support_labels(right, split) is True  # [1, 3, 2] is fine
    assert check_support_labels(right[0].tolist(), split) is True
    assert check_support_labels(right[0].float(), split) is True
    assert check_support_labels(None, split) is False


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda s, e: e.support_labels()[0], "episode* labels"),
        (lambda s, e: e.support[0], "image indices"),
        (lambda s, e: s.labels[e.support[0]].flatten(), "the shape is (6,)"),
        (lambda s, e: s.labels[e.support[0]].T, "the shape is (2, 3)"),
        (
            lambda s, e: s.labels[sample_episodes(s.labels, 3, 2, episodes=1, seed=5).support[0]],
            "not the classes of this episode",
        ),
        (
            lambda s, e: s.labels[e.support[0]].flip(1) * 0 + torch.tensor([[0], [9], [9]]),
            "not the classes of this episode",
        ),
        (lambda s, e: torch.tensor([[0, 1], [1, 0], [2, 2]]), "every row should repeat"),
        (lambda s, e: s.labels[e.support[0]] + 0.5, "whole numbers"),
        (lambda s, e: "three", "give a tensor"),
    ],
)
def test_support_labels_checker_explains_wrong_answers(make, hint, capsys):
    split = tiny_split(classes=6, per_class=20)
    episodes = sample_episodes(split.labels, 3, 2, episodes=1, seed=0)
    assert check_support_labels(make(split, episodes), split) is False
    out = capsys.readouterr().out
    assert out.startswith("❌") and hint in out
