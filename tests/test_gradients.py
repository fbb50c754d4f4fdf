"""Fine-tuning's gradients written out agree with autograd, and so does fine-tuning itself."""

import pytest
import torch
import torch.nn.functional as F

from fewshot_utils.fewshot.fine_tuning import FineTuning, fine_tune
from fewshot_utils.fewshot.gradients import loss_and_logit_gradient, weight_gradient_to_W
from fewshot_utils.fewshot.softmax_classifier import effective_weight


@pytest.fixture(autouse=True)
def float64():
    """Compare in float64, to ~1e-12, not to float32's rounding."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def logits_and_labels(E=3, N=4, R=6, Q=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(E, N, R + Q, generator=generator)
    labels = torch.randint(N, (E, R), generator=generator)
    return logits, labels


def autograd_loss(logits, labels, entropy_weight):
    R = labels.shape[1]
    support = F.cross_entropy(logits[..., :R], labels, reduction="none").mean(dim=1)
    log_p = torch.log_softmax(logits[..., R:], dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1).mean(dim=1)
    return support, entropy, (support + entropy_weight * entropy).sum()


@pytest.mark.parametrize("entropy_weight", [0.0, 0.1, 2.0])
def test_one_softmax_for_all_the_logits_equals_autograd(entropy_weight):
    logits, labels = logits_and_labels(seed=1)
    leaf = logits.clone().requires_grad_(True)
    support, entropy, total = autograd_loss(leaf, labels, entropy_weight)
    (expected,) = torch.autograd.grad(total, leaf)
    loss, mean_h, gradient = loss_and_logit_gradient(logits.clone(), labels, entropy_weight)
    assert torch.allclose(loss, support.detach()) and torch.allclose(mean_h, entropy.detach())
    columns = gradient.shape[2]
    assert columns == (logits.shape[2] if entropy_weight > 0 else labels.shape[1])
    assert torch.allclose(gradient, expected[..., :columns])


def test_the_cosine_weights_gradient_equals_autograd():
    generator = torch.Generator().manual_seed(2)
    W = torch.randn(3, 4, 5, generator=generator) * torch.rand(3, 4, 1, generator=generator) * 4
    upstream = torch.randn(3, 4, 5, generator=generator)
    for scale in (7.0, torch.tensor([1.0, 10.0, 20.0])):
        leaf = W.clone().requires_grad_(True)
        weight = effective_weight(leaf, "cosine", scale)
        (expected,) = torch.autograd.grad((weight * upstream).sum(), leaf)
        got = weight_gradient_to_W(W, weight.detach(), upstream, "cosine", scale)
        assert torch.allclose(got, expected)
    assert weight_gradient_to_W(W, W, upstream, "linear", 3.0) is upstream


def autograd_fine_tune(support, queries, method):
    """The plain way: autograd on the loss, torch.optim.Adam (the reference)."""
    E, N, K, d = support.shape
    unit = lambda x: x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # noqa: E731
    s, q = unit(support).reshape(E, N * K, d), unit(queries)
    labels = torch.arange(N).repeat_interleave(K).expand(E, -1)
    W = unit(unit(support).mean(dim=2)).clone().requires_grad_(True)
    b = torch.zeros(E, N, requires_grad=True)
    log_s = torch.full((E,), float(torch.tensor(method.scale).log()), requires_grad=True)
    parameters = [W, b] + ([log_s] if method.learn_scale else [])
    optimiser = torch.optim.Adam(parameters, lr=method.lr)
    for _ in range(method.steps):
        scale = log_s.exp().view(-1, 1, 1) if method.learn_scale else method.scale
        weight = scale * unit(W) if method.classifier == "cosine" else W
        support_logits = (s @ weight.transpose(1, 2) + b.unsqueeze(1)).transpose(1, 2)
        query_logits = (q @ weight.transpose(1, 2) + b.unsqueeze(1)).transpose(1, 2)
        loss = F.cross_entropy(support_logits, labels, reduction="none").mean(dim=1).sum()
        log_p = torch.log_softmax(query_logits, dim=1)
        loss = loss + method.entropy_weight * (-(log_p.exp() * log_p).sum(1).mean(1)).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return W.detach(), b.detach()


@pytest.mark.parametrize(
    "method",
    [
        FineTuning(steps=20),
        FineTuning(steps=20, entropy_weight=0.3),
        FineTuning(steps=20, entropy_weight=0.1, classifier="cosine", scale=20.0),
        FineTuning(steps=20, classifier="cosine", scale=10.0, learn_scale=True),
    ],
)
def test_fine_tuning_follows_the_same_steps_as_autograd(method):
    generator = torch.Generator().manual_seed(3)
    support = torch.randn(4, 5, 2, 8, generator=generator).relu()
    queries = torch.randn(4, 15, 8, generator=generator).relu()
    W, b = autograd_fine_tune(support, queries, method)
    tuned = fine_tune(support, queries, method)
    assert torch.allclose(tuned.weight, W, atol=1e-8) and torch.allclose(tuned.bias, b, atol=1e-8)


@pytest.mark.parametrize("classifier", ["linear", "cosine"])
def test_the_trained_classifier_gives_the_logits_training_saw(classifier):
    """After many steps, not only at 0: the classifier's logits (the evaluation path) give
    the support loss and query entropy the training path recorded at its last step."""
    generator = torch.Generator().manual_seed(4)
    support = torch.randn(3, 4, 2, 8, generator=generator).relu()
    queries = torch.randn(3, 12, 8, generator=generator).relu()
    cosine = {"classifier": "cosine", "learn_scale": True} if classifier == "cosine" else {}
    method = FineTuning(steps=15, entropy_weight=0.2, **cosine)
    tuned = fine_tune(support, queries, method, record=True)
    E, N, K, d = support.shape
    logits = tuned.logits(support.reshape(E, N * K, d))  # [E, NK, N]
    labels = torch.arange(N).repeat_interleave(K).expand(E, -1)
    loss = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").mean(dim=1)
    assert torch.allclose(loss, tuned.history.support_loss[-1])
    log_p = torch.log_softmax(tuned.logits(queries), dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1).mean(dim=1)
    assert torch.allclose(entropy, tuned.history.query_entropy[-1])
