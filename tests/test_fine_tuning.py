"""Fine-tuning W, b on the support set: the three tricks, batched across episodes."""

import math

import pytest
import torch

from fewshot_utils.fewshot.entropy import entropy, entropy_from_logits
from fewshot_utils.fewshot.fine_tuning import (
    FineTuning,
    fine_tune,
    fine_tune_one_episode,
    random_init,
)
from fewshot_utils.fewshot.prototypes import prototype_logits, prototypes
from fewshot_utils.fewshot.softmax_classifier import classifier_logits


def episodes(E=4, N=5, K=2, Q=6, d=16, seed=0):
    """Random 'features': each class a direction plus noise, ReLU'd like Conv4's output."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(E, N, 1, d, generator=g)
    support = (centres + 0.8 * torch.randn(E, N, K, d, generator=g)).relu()
    query = (centres + 0.8 * torch.randn(E, N, Q, d, generator=g)).relu().reshape(E, N * Q, d)
    labels = torch.arange(N).repeat_interleave(Q).expand(E, -1)
    return support, query, labels


# ----------------------------------------------------------------------------
# The entropy, by hand
# ----------------------------------------------------------------------------


def test_entropy_value_and_gradient_by_hand():
    # Logits z = (0, ln 3): exp(z) = (1, 3), so p = softmax(z) = (1/4, 3/4).
    z = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64, requires_grad=True)
    H = entropy_from_logits(z)
    # H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 1/4 ln 4 + 3/4 (ln 4 - ln 3) = ln 4 - 3/4 ln 3 ≈ 0.5623
    assert H.item() == pytest.approx(math.log(4) - 0.75 * math.log(3))
    assert H.item() == pytest.approx(0.5623351446)
    # dH/dz_n = -p_n (ln p_n + H):
    #   n = 0: -1/4 (ln 1/4 + ln 4 - 3/4 ln 3) = -1/4 (-3/4 ln 3) = +3/16 ln 3 ≈ +0.2060
    #   n = 1: -3/4 (ln 3/4 + ln 4 - 3/4 ln 3) = -3/4 (1/4 ln 3)  = -3/16 ln 3 ≈ -0.2060
    # Raising z_0 (the less likely class) makes p more even: the entropy grows.
    H.backward()
    expected = torch.tensor([3 / 16, -3 / 16], dtype=torch.float64) * math.log(3)
    assert torch.allclose(z.grad, expected)
    # The same value from the probabilities, H(p) = -Σ p log p:
    p = torch.tensor([0.25, 0.75], dtype=torch.float64)
    assert entropy(p).item() == pytest.approx(H.item())


def test_entropy_extremes():
    assert entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0  # certain: 0 log 0 = 0
    assert entropy(torch.full((5,), 0.2)).item() == pytest.approx(math.log(5))  # uniform
    logits = torch.randn(3, 7, 5)
    assert torch.allclose(entropy_from_logits(logits), entropy(logits.softmax(-1)), atol=1e-6)
    assert torch.allclose(  # along another dimension
        entropy_from_logits(logits, dim=1), entropy(logits.softmax(1), dim=1), atol=1e-6
    )


# ----------------------------------------------------------------------------
# The classifiers
# ----------------------------------------------------------------------------


def test_zero_steps_from_w_equal_m_is_the_prototype_classifier():
    support, query, _ = episodes()
    M = prototypes(support)
    linear = fine_tune(support, query, FineTuning(steps=0))
    assert torch.allclose(linear.weight, M) and torch.equal(linear.bias, torch.zeros(4, 5))
    assert torch.allclose(linear.logits(query), prototype_logits(M, query), atol=1e-6)
    cosine = fine_tune(support, query, FineTuning(steps=0, classifier="cosine", scale=10))
    assert torch.allclose(cosine.logits(query), prototype_logits(M, query, scale=10), atol=1e-5)


def test_cosine_classifier_ignores_the_lengths_of_w_and_q():
    W, b, q = torch.randn(3, 5, 8), torch.randn(3, 5), torch.randn(3, 4, 8)
    lengths_w = torch.rand(3, 5, 1) * 10 + 0.1
    lengths_q = torch.rand(3, 4, 1) * 10 + 0.1
    z = classifier_logits(W, b, q, "cosine", scale=10.0)
    assert torch.allclose(
        z, classifier_logits(lengths_w * W, b, lengths_q * q, "cosine"), atol=1e-5
    )
    # The linear classifier normalises q but not w: longer w_n, larger logit.
    z_linear = classifier_logits(W, b, q, "linear")
    assert torch.allclose(z_linear, classifier_logits(W, b, lengths_q * q, "linear"), atol=1e-5)
    assert not torch.allclose(z_linear, classifier_logits(lengths_w * W, b, q, "linear"))


def test_per_episode_scale_and_unbatched_logits():
    W, b, q = torch.randn(2, 3, 4), torch.zeros(2, 3), torch.randn(2, 5, 4)
    z = classifier_logits(W, b, q, "cosine", scale=torch.tensor([1.0, 2.0]))
    assert torch.allclose(z[1], 2 * classifier_logits(W[1], b[1], q[1], "cosine", 1.0), atol=1e-6)


# ----------------------------------------------------------------------------
# Fine-tuning
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["random", "prototypes"])
@pytest.mark.parametrize("classifier", ["linear", "cosine"])
def test_cross_entropy_lowers_the_support_loss(init, classifier):
    support, query, labels = episodes()
    config = FineTuning(init=init, classifier=classifier, steps=30)
    result = fine_tune(support, query, config, query_labels=labels, record=True)
    history = result.history
    assert history.support_loss.shape == (31, 4)  # the start and 30 steps, per episode
    assert history.query_accuracy.shape == (31, 4)
    assert (history.support_loss[-1] < history.support_loss[0]).all()


def test_entropy_term_lowers_the_query_entropy():
    support, query, _ = episodes()
    plain = fine_tune(support, query, FineTuning(steps=30), record=True).history
    config = FineTuning(steps=30, entropy_weight=1.0)
    regularised = fine_tune(support, query, config, record=True).history
    assert (regularised.query_entropy[-1] < plain.query_entropy[-1]).all()


CONFIGS = [
    FineTuning(init="random", steps=20),
    FineTuning(init="prototypes", entropy_weight=0.1, steps=20),
    FineTuning(classifier="cosine", entropy_weight=0.1, learn_scale=True, steps=20),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.describe())
def test_batched_fine_tuning_equals_one_episode_at_a_time(config):
    support, query, _ = episodes(E=5)
    batched = fine_tune(support, query, config, seed=3)
    for e in range(5):
        alone = fine_tune_one_episode(support[e], query[e], config, seed=3, episode_index=e)
        assert torch.allclose(batched.weight[e], alone.weight, atol=1e-5)
        assert torch.allclose(batched.bias[e], alone.bias, atol=1e-5)
        assert torch.allclose(batched.logits(query)[e], alone.logits(query[e]), atol=1e-4)
        if config.learn_scale:
            assert batched.scale[e].item() == pytest.approx(alone.scale.item(), rel=1e-5)


def test_random_start_is_seeded_per_episode():
    W, b = random_init(3, 5, 16, seed=7)
    W2, b2 = random_init(3, 5, 16, seed=7)
    assert torch.equal(W, W2) and torch.equal(b, b2)
    assert W.abs().max() <= 1 / math.sqrt(16)  # nn.Linear's U(-1/√d, 1/√d)
    assert not torch.equal(W[0], W[1])
    W_last, _ = random_init(1, 5, 16, seed=7, episode_index=torch.tensor([2]))
    assert torch.equal(W_last[0], W[2])  # the same start whatever the batch
    assert not torch.equal(random_init(3, 5, 16, seed=8)[0], W)


def test_learned_scale_moves_and_fixed_scale_stays():
    support, query, _ = episodes()
    config = FineTuning(classifier="cosine", scale=10.0, steps=10)
    fixed = fine_tune(support, query, config)
    assert fixed.scale == 10.0
    learned = fine_tune(
        support,
        query,
        FineTuning(classifier="cosine", scale=10.0, learn_scale=True, steps=10),
    )
    assert learned.scale.shape == (4,) and not torch.allclose(learned.scale, torch.full((4,), 10.0))


def test_fine_tuning_works_inside_no_grad_and_unbatched():
    support, query, labels = episodes(E=1)
    with torch.no_grad():
        result = fine_tune(
            support[0], query[0], FineTuning(steps=5), record=True, query_labels=labels[0]
        )
    assert result.weight.shape == (5, 16) and result.bias.shape == (5,)
    assert result.history.support_loss.shape == (6,)
    assert result.history.support_loss[-1] < result.history.support_loss[0]
    assert result.probabilities(query[0]).shape == (30, 5)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"init": "zeros"}, "init must be one of random, prototypes"),
        ({"classifier": "mlp"}, "classifier must be one of linear, cosine"),
        ({"entropy_weight": -0.1}, "entropy_weight must be >= 0"),
        ({"scale": 0.0}, "scale must be > 0"),
        ({"learn_scale": True}, "learn_scale applies to the cosine classifier only"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"lr": 0}, "lr must be > 0"),
    ],
)
def test_bad_configs_are_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        FineTuning(**changes)


def test_bad_inputs_are_clear_errors():
    support, query, _ = episodes()
    with pytest.raises(ValueError, match="need the episode's query features"):
        fine_tune(support, None, FineTuning(entropy_weight=0.1))
    with pytest.raises(ValueError, match=r"queries must be \[E, Q, d\]"):
        fine_tune(support, query[:2])
    with pytest.raises(ValueError, match=r"support must be \[E, N, K, d\]"):
        fine_tune(torch.randn(5, 16), query)
    with pytest.raises(ValueError, match="classifier must be one of"):
        classifier_logits(torch.randn(5, 4), torch.zeros(5), torch.randn(3, 4), "mlp")


def test_describe_names_the_tricks():
    config = FineTuning(classifier="cosine", entropy_weight=0.1, scale=10, lr=0.01)
    assert config.describe() == "W = M, cosine (s = 10), λ = 0.1, 100 steps of Adam (lr 0.01)"
    assert FineTuning(init="random").describe().startswith("random init, linear")
