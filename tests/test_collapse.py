"""Why a collapse happens: Adam written out, the entropy's push, fine-tuning step by step,
and the table notebook 06 shows it with."""

import pytest
import torch

from fewshot_utils.fewshot.collapse import adam_step, entropy_push, trace_fine_tuning
from fewshot_utils.fewshot.entropy import entropy_from_logits
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import episode_features
from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune
from fewshot_utils.fewshot.inspection import predicted_class_shares
from fewshot_utils.fewshot.prototypes import prototype_logits, prototypes
from fewshot_utils.viz.tables import trace_table

TOY = dict(classes=12, per_class=20, dim=16, noise=0.225)

# ----------------------------------------------------------------------------
# Adam, written out
# ----------------------------------------------------------------------------


def test_adam_step_agrees_with_torch_adam():
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(4, 3, generator=generator)
    ours, theirs = start.clone(), start.clone().requires_grad_(True)
    m, v = torch.zeros_like(ours), torch.zeros_like(ours)
    optimiser = torch.optim.Adam([theirs], lr=0.05)
    for t in range(1, 8):
        gradient = torch.randn(4, 3, generator=generator) * 10.0**-t  # shrinking gradients
        adam_step(ours, gradient, m, v, t, lr=0.05)
        theirs.grad = gradient.clone()
        optimiser.step()
        assert torch.allclose(ours, theirs.detach(), atol=1e-6)


def test_adams_first_step_is_the_learning_rate_whatever_the_gradient():
    for size in (1e-3, 1.0, 1e3):  # |g| ≫ ε = 1e-8
        gradient = size * torch.tensor([2.0, -0.5, 3.0])
        parameter = torch.zeros(3)
        step = adam_step(parameter, gradient, torch.zeros(3), torch.zeros(3), t=1, lr=0.1)
        assert torch.allclose(step, torch.tensor([-0.1, 0.1, -0.1]), rtol=1e-4)
        assert torch.equal(parameter, step)
    # and the steps after the first do not depend on the gradient's scale either
    small, large = torch.zeros(3), torch.zeros(3)
    moments = [(torch.zeros(3), torch.zeros(3)) for _ in range(2)]
    for t in range(1, 6):
        gradient = torch.tensor([1.0, -2.0, 0.5]) / t
        adam_step(small, 1e-3 * gradient, *moments[0], t, lr=0.01)
        adam_step(large, 1e3 * gradient, *moments[1], t, lr=0.01)
    assert torch.allclose(small, large, atol=1e-6)
    with pytest.raises(ValueError, match="from 1"):
        adam_step(small, gradient, *moments[0], t=0, lr=0.01)


# ----------------------------------------------------------------------------
# The entropy's push on the biases
# ----------------------------------------------------------------------------


def test_entropy_push_is_minus_the_gradient_of_the_mean_entropy():
    logits = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(1))  # [E, Q, N]
    bias = torch.zeros(3, 4, requires_grad=True)
    mean_entropy = entropy_from_logits(logits + bias.unsqueeze(1)).mean(dim=1).sum()
    (gradient,) = torch.autograd.grad(mean_entropy, bias)
    push = entropy_push(logits)
    assert push.shape == (3, 4)
    assert torch.allclose(push, -gradient, atol=1e-6)
    assert torch.allclose(push.sum(dim=-1), torch.zeros(3), atol=1e-6)  # pushes sum to 0


def test_the_entropy_pushes_up_the_class_the_queries_lean_to():
    assert torch.allclose(entropy_push(torch.zeros(5, 3)), torch.zeros(3))  # uniform: no push
    leaning = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.2, 0.0], [0.8, 0.0, 0.3]])  # to class 0
    push = entropy_push(leaning)
    assert push[0] > 0 > max(push[1], push[2])
    assert int(push.argmax()) == 0


# ----------------------------------------------------------------------------
# Fine-tuning, step by step
# ----------------------------------------------------------------------------


def toy_episodes(clusters, episodes=12, ways=5, seed=0):
    features, labels = clusters(**TOY)
    features = features.double()  # so that two ways of computing the same steps agree
    sampled = sample_episodes(labels, ways, 1, queries=6, episodes=episodes, seed=seed)
    return episode_features(features, sampled)


@pytest.mark.parametrize(
    "method",
    [
        FineTuning(steps=12, entropy_weight=0.5),
        FineTuning("random", steps=8),
        FineTuning(steps=10, classifier="cosine", scale=5, entropy_weight=0.1),
        FineTuning(steps=6, classifier="cosine", learn_scale=True),
    ],
    ids=["entropy", "random", "cosine", "learned scale"],
)
def test_the_trace_ends_where_fine_tune_ends(method, clusters):
    support, query, labels = toy_episodes(clusters)
    trace = trace_fine_tuning(support, query, method, labels, episode_index=torch.arange(12))
    tuned = fine_tune(support, query, method, episode_index=torch.arange(12))
    assert torch.allclose(trace.weight, tuned.weight, atol=1e-6)
    assert torch.allclose(trace.bias, tuned.bias, atol=1e-6)
    for field in ("step_size", "gradient_size", "top_share", "pulled", "query_accuracy"):
        assert getattr(trace, field).shape == (method.steps + 1, 12)


def test_the_trace_records_what_fine_tuning_did(clusters):
    support, query, labels = toy_episodes(clusters)
    method = FineTuning(steps=5, entropy_weight=1.0, lr=0.05)
    trace = trace_fine_tuning(support, query, method, labels)
    assert torch.equal(trace.step_size[0], torch.zeros(12))
    step_one = torch.full((12,), 0.05, dtype=torch.float64)
    assert torch.allclose(trace.step_size[1], step_one, rtol=1e-3)  # ±lr for every number
    assert torch.allclose(trace.weight_length[0], torch.ones(12, dtype=torch.float64))
    # row 0 is the prototype classifier: its top class's share, accuracy and entropy
    logits = prototype_logits(prototypes(support), query)  # [E, Q, N]
    predicted = logits.argmax(dim=-1)
    shares = predicted_class_shares(predicted, ways=5)  # mean over episodes, sorted
    assert float(trace.top_share[0].mean()) == pytest.approx(float(shares[0]))
    right = 100.0 * (predicted == labels).double().mean(dim=1)
    assert torch.allclose(trace.query_accuracy[0], right)
    assert torch.allclose(trace.query_entropy[0], entropy_from_logits(logits).mean(dim=1))
    assert ((trace.pulled >= 0) & (trace.pulled <= 100)).all()
    # without the entropy term nothing pushes: the entropy column is 0
    plain = trace_fine_tuning(support, query, FineTuning(steps=2), labels)
    assert torch.equal(plain.entropy_push, torch.zeros(3, 12, dtype=torch.float64))
    assert plain.query_entropy[0].mean() > 0


def test_a_large_entropy_weight_sends_the_queries_to_one_class(clusters):
    """The rich-get-richer loop, on features it can happen with: noisy clusters."""
    features, labels = clusters(classes=12, per_class=20, dim=16, noise=0.4)
    sampled = sample_episodes(labels, 5, 1, queries=10, episodes=20, seed=2)
    support, query, _ = episode_features(features, sampled)
    strong = trace_fine_tuning(support, query, FineTuning(steps=100, entropy_weight=1.0, lr=0.01))
    plain = trace_fine_tuning(support, query, FineTuning(steps=100, lr=0.01))
    assert float(strong.top_share[-1].mean()) > float(strong.top_share[0].mean()) + 20
    assert float(strong.top_share[-1].mean()) > float(plain.top_share[-1].mean()) + 20
    # the entropy pushes the top class's bias up, the support loss pushes it back down
    assert (strong.entropy_push[1:] > 0).float().mean() > 0.9
    assert (strong.support_push[1:] < 0).float().mean() > 0.9


def test_trace_shapes_are_checked(clusters):
    support, query, _ = toy_episodes(clusters)
    one = trace_fine_tuning(support[0], query[0], FineTuning(steps=2))
    assert one.step_size.shape == (3, 1) and one.query_accuracy is None
    with pytest.raises(ValueError, match="queries"):
        trace_fine_tuning(support, query[0], FineTuning(steps=2))


# ----------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------


def test_trace_table_rows_and_columns(clusters):
    support, query, labels = toy_episodes(clusters)
    traces = {
        f"lr {lr:g}": trace_fine_tuning(
            support, query, FineTuning(steps=4, entropy_weight=1.0, lr=lr), labels
        )
        for lr in (0.1, 0.01)
    }
    table = trace_table(traces, steps=(0, 1, 4, 50), columns=("step", "top"), episode=0)
    lines = table.splitlines()
    assert lines[0] == "|  | step | Adam's step per number | queries in the top class (%) |"
    assert len(lines) == 2 + 2 * 3  # step 50 was not run
    assert lines[3].startswith("| lr 0.1 | 1 | 0.1000 |")
    assert lines[6].startswith("| lr 0.01 | 1 | 0.0100 |")
    mean = trace_table(traces, steps=(0,), columns=("accuracy",))
    assert f"{float(traces['lr 0.1'].query_accuracy[0].mean()):.1f}" in mean
    with pytest.raises(ValueError, match="unknown columns"):
        trace_table(traces, columns=("speed",))
    with pytest.raises(ValueError, match="none of the steps"):
        trace_table(traces, steps=(99,))
