"""Checkers for notebook 00 (the few-shot problem): the size of an episode, its support labels.

Each checker prints what is right, or what is wrong and a hint, and returns
``True``/``False``; it never raises, so the notebook runs top to bottom.
"""

from __future__ import annotations

import torch

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.exercises.checking import REPLACE_NONE, not_answered, report
from fewshot_utils.fewshot.episodes import sample_episodes


def episode_size(ways: int, shots: int, queries: int) -> int:
    """Images in one N-way K-shot episode with Q queries per class: ``N · (K + Q)``."""
    return ways * (shots + queries)


def check_episode_size(answer, ways: int = 20, shots: int = 5, queries: int = 15) -> bool:
    """Is ``answer`` the number of images of an N-way K-shot episode with Q queries per class?"""
    if answer is None:
        return not_answered(REPLACE_NONE)
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return report(False, f"give a number (an int), got {answer!r}.")
    expected = episode_size(ways, shots, queries)
    if value == expected:
        return report(
            True,
            f"{ways} classes x ({shots} support + {queries} query images) = {expected} images: "
            f"{ways * shots} in the support set and {ways * queries} queries.",
        )
    hints = {
        ways * shots: "that is only the support set; the queries are images of the episode too.",
        ways * queries: "that is only the queries; add the support set.",
        shots + queries: "that is one class's images; an episode has N classes.",
        ways * shots * queries: "shots and queries add up per class, they do not multiply.",
        ways + shots + queries: "N, K and Q do not simply add up: each class has K + Q images.",
        ways * (shots + 1): "queries: Q per class, not one.",
    }
    hint = hints.get(value, f"count per class first (K + Q), then multiply by N = {ways}.")
    return report(False, f"{answer} is not it: {hint}")


def check_support_labels(
    answer, split: FewShotSplit, ways: int = 3, shots: int = 2, seed: int = 0
) -> bool:
    """Is ``answer`` the split's class label of every support image of the first seeded
    ``ways``-way ``shots``-shot episode (``sample_episodes(split.labels, ways, shots,
    episodes=1, seed=seed)``), shape ``[ways, shots]`` (a leading episode dimension of 1
    is fine too)?"""
    if answer is None:
        return not_answered(REPLACE_NONE)
    try:
        answer = torch.as_tensor(answer)
    except (TypeError, ValueError, RuntimeError):
        return report(False, "give a tensor (or nested list) of integers of shape [3, 2].")
    episodes = sample_episodes(split.labels, ways, shots, episodes=1, seed=seed)
    support = episodes.support[0]  # [N, K]
    expected = split.labels[support]
    if answer.dim() == 3 and answer.shape[0] == 1:
        answer = answer[0]
    if answer.shape != expected.shape:
        return report(
            False,
            f"the shape is {tuple(answer.shape)}, expected {tuple(expected.shape)}: one row per "
            f"class (N = {ways}), one column per shot (K = {shots}). Index `labels` with the "
            "episode's `support` tensor to keep that shape.",
        )
    if answer.is_floating_point() and not torch.equal(answer, answer.round()):
        return report(False, "labels are whole numbers (class indices), got fractions.")
    answer = answer.to(torch.long)
    if torch.equal(answer, expected):
        return report(
            True,
            f"every row holds one class ({expected[:, 0].tolist()}, the episode's `classes[0]`), "
            "repeated once per shot. Inside the episode these classes "
            f"are simply called 0 .. {ways - 1}.",
        )
    if torch.equal(answer, episodes.support_labels()[0]):
        return report(
            False,
            "these are the *episode* labels 0 .. N-1 that the classifier uses; the question "
            "asks for the split's class index of each image: `split.labels[support]`.",
        )
    if torch.equal(answer, support):
        return report(
            False,
            "these are the image indices of the support set; look up their labels: "
            "`split.labels[support]`.",
        )
    if (answer == answer[:, :1]).all():
        return report(
            False,
            f"each row is one class, good, but not the classes of this episode "
            f"({expected[:, 0].tolist()}): sample with seed={seed} and episodes=1.",
        )
    return report(
        False,
        "the labels do not match: every row should repeat one class (all shots of a class "
        f"share its label). Sample with `sample_episodes(split.labels, {ways}, {shots}, "
        f"episodes=1, seed={seed})` and index the labels with its `support`.",
    )
