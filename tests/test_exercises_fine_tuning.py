"""The checkers of notebooks 05-07: right answers pass, usual slips get their hint, none raise."""

import math

import pytest
import torch
import torch.nn.functional as F

from fewshot_utils.exercises.cosine_classifier import check_cosine_logits, cosine_logits
from fewshot_utils.exercises.entropy import (
    BY_HAND_ENTROPY,
    check_entropy_by_hand,
    check_mean_query_entropy,
    hand_worked_logits,
    mean_query_entropy,
)
from fewshot_utils.exercises.fine_tuning import (
    check_support_cross_entropy,
    hand_made_case,
    support_cross_entropy,
)
from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune


def placeholder(*arguments):
    return None  # your code here


# ----------------------------------------------------------------------------
# Notebook 05: the support cross-entropy
# ----------------------------------------------------------------------------


def good_loss(W, b, support):
    N, K, d = support.shape
    logits = support.reshape(N * K, d) @ W.T + b
    return F.cross_entropy(logits, torch.arange(N).repeat_interleave(K))


def explicit_loss(W, b, support):
    N, K, d = support.shape
    log_p = torch.log_softmax(support.reshape(N * K, d) @ W.T + b, dim=1)
    labels = torch.arange(N).repeat_interleave(K)
    return float(-log_p[torch.arange(N * K), labels].mean())  # a float is fine too


def test_reference_loss_by_hand_and_against_fine_tune():
    W, b, support = hand_made_case()
    assert float(support_cross_entropy(W, b, support)) == pytest.approx(math.log(1 + math.exp(-1)))
    # fine_tune records the same L_CE at step 0 (W = M, b = 0 on normalised features)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4, 3, 8, generator=generator).relu() + 0.1
    queries = torch.randn(6, 8, generator=generator)
    classifier = fine_tune(features, queries, FineTuning(steps=0), record=True)
    unit = l2_normalize(features)
    M = l2_normalize(unit.mean(dim=1))
    expected = support_cross_entropy(M, torch.zeros(4), unit)
    assert float(classifier.history.support_loss[0]) == pytest.approx(float(expected), abs=1e-5)


def test_support_loss_right_answers_pass(capsys):
    assert check_support_cross_entropy(good_loss) is True
    assert check_support_cross_entropy(explicit_loss) is True
    output = capsys.readouterr().out
    assert output.count("✅") == 2 and "0.3133" in output


LOSS_SLIPS = [
    (
        lambda W, b, s: F.cross_entropy(
            s.reshape(-1, s.shape[-1]) @ W.T + b, torch.arange(s.shape[0]).repeat(s.shape[1])
        ),
        "repeat_interleave",
    ),
    (lambda W, b, s: good_loss(W, b, s) * s.shape[0] * s.shape[1], "mean"),
    (lambda W, b, s: good_loss(W, torch.zeros_like(b), s), "bias"),
    (lambda W, b, s: -good_loss(W, b, s), "sign"),
    (lambda W, b, s: good_loss(l2_normalize(W), b, s), "cosine classifier"),
    (
        lambda W, b, s: F.cross_entropy(
            s.reshape(-1, s.shape[-1]) @ W.T + b,
            torch.arange(s.shape[0]).repeat_interleave(s.shape[1]),
            reduction="none",
        ),
        "one number",
    ),
    (lambda W, b, s: s @ W, "Hint"),  # wrong shapes: raises inside, reported
    (lambda W, b, s: "loss", "did not return a number"),
]


@pytest.mark.parametrize("slip, hint", LOSS_SLIPS)
def test_support_loss_slips(slip, hint, capsys):
    assert check_support_cross_entropy(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and hint in output


# ----------------------------------------------------------------------------
# Notebook 06: the entropy
# ----------------------------------------------------------------------------


def good_entropy(logits):
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1).mean()


def xlogy_entropy(logits):
    p = logits.softmax(dim=-1)
    return -torch.xlogy(p, p).sum(dim=-1).mean()


def test_hand_worked_entropy():
    assert float(mean_query_entropy(hand_worked_logits())) == pytest.approx(
        (math.log(2) + math.log(4) - 0.75 * math.log(3)) / 2
    )
    assert BY_HAND_ENTROPY == pytest.approx(-(0.5 * math.log(0.5) + 0.5 * math.log(0.25)))


def test_entropy_right_answers_pass(capsys):
    assert check_mean_query_entropy(good_entropy) is True
    assert check_mean_query_entropy(xlogy_entropy) is True
    assert check_entropy_by_hand(1.5 * math.log(2)) is True
    assert check_entropy_by_hand(torch.tensor(1.04)) is True
    assert capsys.readouterr().out.count("✅") == 4


def naive_entropy(logits):
    p = logits.softmax(dim=-1)
    return -(p * p.log()).sum(dim=-1).mean()


ENTROPY_SLIPS = [
    (naive_entropy, "NaN"),
    (lambda z: xlogy_entropy(z) / math.log(2), "base 2"),
    (lambda z: xlogy_entropy(z) * z.shape[0], "summed over the queries"),
    (lambda z: -xlogy_entropy(z), "sign"),
    (lambda z: -torch.xlogy(z.softmax(0), z.softmax(0)).sum(0).mean(), "dim=0"),
    (lambda z: -torch.xlogy(z.softmax(-1), z.softmax(-1)).mean(), "queries AND classes"),
    (lambda z: -torch.xlogy(z.softmax(-1), z.softmax(-1)).sum(-1), "one number"),
    (lambda z: z.mean(), "log_softmax"),  # anything else: the general hint
]


@pytest.mark.parametrize("slip, hint", ENTROPY_SLIPS)
def test_entropy_slips(slip, hint, capsys):
    assert check_mean_query_entropy(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and hint in output


@pytest.mark.parametrize(
    "answer, hint",
    [(1.5, "bits"), (-1.0397, "sign"), (math.log(3), "uniform"), (2.0, "log ½"), ("x", "number")],
)
def test_entropy_by_hand_slips(answer, hint, capsys):
    assert check_entropy_by_hand(answer) is False
    assert hint in capsys.readouterr().out


# ----------------------------------------------------------------------------
# Notebook 07: cosine logits with a scale
# ----------------------------------------------------------------------------


def good_cosine_logits(W, queries, scale):
    return scale * l2_normalize(queries) @ l2_normalize(W).T


def test_cosine_logits_by_hand():
    W, queries, scale = hand_made_case_cosine()
    logits = cosine_logits(W, queries, scale)
    assert logits.flatten().tolist() == pytest.approx([10 / math.sqrt(2)] * 2 + [0, 10], abs=1e-5)


def hand_made_case_cosine():
    from fewshot_utils.exercises.cosine_classifier import hand_made_case as case

    return case()


def test_cosine_logits_right_answers_pass(capsys):
    assert check_cosine_logits(good_cosine_logits) is True

    def torch_version(W, q, s):
        return s * F.cosine_similarity(q.unsqueeze(1), W.unsqueeze(0), dim=-1)

    assert check_cosine_logits(torch_version) is True
    assert capsys.readouterr().out.count("✅") == 2


COSINE_SLIPS = [
    (lambda W, q, s: s * l2_normalize(q) @ W.T, "did not normalise the weights"),
    (lambda W, q, s: s * q @ l2_normalize(W).T, "did not normalise the queries"),
    (lambda W, q, s: s * q @ W.T, "normalise both"),
    (lambda W, q, s: l2_normalize(q) @ l2_normalize(W).T, "multiply them by the scale"),
    (lambda W, q, s: l2_normalize(q) @ l2_normalize(W).T / s, "temperature"),
    (lambda W, q, s: s * l2_normalize(W) @ l2_normalize(q).T, "transposed"),
    (lambda W, q, s: s * l2_normalize(q, dim=0) @ l2_normalize(W, dim=0).T, "dim=-1"),
    (lambda W, q, s: W @ torch.ones(3), "raised"),
]


@pytest.mark.parametrize("slip, hint", COSINE_SLIPS)
def test_cosine_logits_slips(slip, hint, capsys):
    assert check_cosine_logits(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and hint in output


@pytest.mark.parametrize(
    "check",
    [
        check_support_cross_entropy,
        check_mean_query_entropy,
        check_cosine_logits,
        check_entropy_by_hand,
    ],
)
def test_not_answered_yet_is_kind(check, capsys):
    assert check(None) is False
    if check is not check_entropy_by_hand:
        assert check(placeholder) is False
    output = capsys.readouterr().out
    assert "Not answered yet" in output and "❌" not in output
