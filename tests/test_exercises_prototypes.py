"""The notebook-04 checkers: M from the support set, and one query's probabilities."""

import math

import pytest
import torch

from fewshot_utils.exercises.prototypes import (
    check_prototypes,
    check_query_probabilities,
    hand_made_support,
)
from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.prototypes import prototypes


def good(support):
    return l2_normalize(l2_normalize(support).mean(dim=1))


def real_like_support(ways=5, shots=5, dim=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(ways, shots, dim, generator=generator) * 2  # non-negative, like ReLU features


def test_hand_made_support_has_the_documented_prototypes():
    r = 1 / math.sqrt(2)
    assert torch.allclose(prototypes(hand_made_support()), torch.tensor([[r, r], [r, -r]]))


def test_right_answers_pass_with_a_bonus_for_batches(capsys):
    assert check_prototypes(good, real_like_support()) is True
    output = capsys.readouterr().out
    assert "✅" in output and "❌" not in output and "(Optional)" in output  # dim=1: no batches
    assert check_prototypes(lambda s: l2_normalize(l2_normalize(s).mean(dim=-2))) is True
    assert "Bonus" in capsys.readouterr().out
    assert check_prototypes(prototypes) is True


def test_not_answered_yet(capsys):
    assert check_prototypes(None) is False
    assert check_prototypes(lambda support: None) is False
    assert check_query_probabilities(None, torch.eye(3), torch.ones(3)) is False
    output = capsys.readouterr().out
    assert output.count("Not answered yet") == 3 and "❌" not in output


SLIPS = [
    (lambda s: l2_normalize(s.mean(dim=1)), "BEFORE the mean"),
    (lambda s: l2_normalize(s).mean(dim=1), "AFTER averaging"),
    (lambda s: l2_normalize(s).sum(dim=1), "AFTER averaging"),
    (lambda s: s.mean(dim=1), "plain mean"),
    (lambda s: l2_normalize(l2_normalize(s).mean(dim=0)), "averaged over the classes"),
    (lambda s: l2_normalize(s), "average each class's K shots"),
    (lambda s: l2_normalize(l2_normalize(s).mean(dim=(0, 1))), "averaged over everything"),
    (lambda s: l2_normalize(l2_normalize(s, dim=0).mean(dim=1)), "dim=0 (across classes)"),
    (lambda s: s.undefined_method(), "raised AttributeError"),
]


@pytest.mark.parametrize("slip, message", SLIPS)
def test_each_slip_gets_its_own_message(slip, message, capsys):
    assert check_prototypes(slip, real_like_support()) is False
    output = capsys.readouterr().out
    assert "❌" in output and message in output, output


def test_forgetting_to_normalise_before_is_caught_on_the_hand_made_case(capsys):
    # whatever the real support looks like, the hand-made case has lengths 1 to 4
    assert check_prototypes(lambda s: l2_normalize(s.mean(dim=1))) is False
    output = capsys.readouterr().out
    assert "hand-made" in output and "BEFORE the mean" in output


def test_query_probabilities():
    generator = torch.Generator().manual_seed(1)
    support = torch.rand(4, 3, 10, generator=generator)
    M, query = prototypes(support), 3 * torch.rand(10, generator=generator)
    right = (M @ l2_normalize(query)).softmax(dim=-1)
    assert check_query_probabilities(right, M, query) is True
    assert check_query_probabilities(right.unsqueeze(0), M, query) is True  # [1, N] is fine


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda M, q: (M @ q).softmax(dim=-1), "normalise the query"),
        (lambda M, q: M @ l2_normalize(q), "apply the softmax"),
        (lambda M, q: (M @ l2_normalize(q)).exp(), "exp alone"),
        (lambda M, q: (-(M @ l2_normalize(q))).softmax(dim=-1), "sign is flipped"),
        (lambda M, q: torch.ones(7), "one probability per class"),
        (lambda M, q: torch.full((4,), 0.25), "sums to 1.000"),
        (lambda M, q: "no", "not a tensor"),
    ],
)
def test_query_probability_slips(make, message, capsys):
    generator = torch.Generator().manual_seed(2)
    M = prototypes(torch.rand(4, 2, 10, generator=generator))
    query = 3 * torch.rand(10, generator=generator)
    assert check_query_probabilities(make(M, query), M, query) is False
    assert message in capsys.readouterr().out


def test_a_function_that_breaks_on_batches_still_passes(capsys):
    def one_episode_only(support):
        if support.dim() != 3:
            return "only one episode"
        return good(support)

    assert check_prototypes(one_episode_only) is True
    assert "(Optional)" in capsys.readouterr().out
