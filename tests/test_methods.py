"""The method interface and the registry: a new method is one class plus one registry line."""

from dataclasses import dataclass

import pytest
import torch.nn.functional as F

from fewshot_utils.cli import build_parser
from fewshot_utils.fewshot.benchmark import run_benchmark
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.methods import (
    METHOD_KEYS,
    METHODS,
    register_method,
    resolve_method,
    unregister_method,
)
from fewshot_utils.fewshot.prototypes import PrototypeMethod

TOY = dict(classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True)


# The toy method: fine-tuning with label-smoothed cross-entropy on the support set. This
# class is all a new fine-tuning method needs (in a file of its own in the package).
@dataclass(frozen=True)
class LabelSmoothedFineTuning(FineTuning):
    smoothing: float = 0.1

    def support_loss(self, logits, labels):
        losses = F.cross_entropy(logits, labels, reduction="none", label_smoothing=self.smoothing)
        return losses.mean(dim=1)


@pytest.fixture
def smoothed():
    name = "W = M + label smoothing"
    method = register_method(name, LabelSmoothedFineTuning(), key="finetune-smooth")  # the line
    yield name, method
    unregister_method(name)


def test_a_registered_method_runs_through_evaluate_and_benchmark(smoothed, clusters):
    name, method = smoothed
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, ways=4, shots=2, queries=5, episodes=30, seed=0)
    by_key = evaluate(features, episodes, "finetune-smooth")
    by_name = evaluate(features, episodes, name)
    assert by_key.method == by_name.method == name
    assert by_key.per_episode.equal(by_name.per_episode)
    rows = run_benchmark(features, labels, episodes=30, settings=[(4, 2)], queries=5, seed=0)
    assert [row["method"] for row in rows] == list(METHODS)  # the new one included, last
    assert rows[-1]["method"] == name and rows[-1]["accuracy"] == pytest.approx(by_key.accuracy)
    arguments = build_parser().parse_args(["evaluate", "--method", "finetune-smooth"])
    assert arguments.method == "finetune-smooth"  # the command line offers it too


def test_the_new_loss_is_the_one_used(smoothed, clusters):
    """Smoothing 0 is plain fine-tuning, to the last bit; smoothing 0.5 changes the answers."""
    features, labels = clusters(**TOY)
    episodes = sample_episodes(labels, ways=4, shots=2, queries=5, episodes=30, seed=0)
    plain = evaluate(features, episodes, "fine-tune (W = M)")
    none = evaluate(features, episodes, LabelSmoothedFineTuning(smoothing=0.0))
    assert none.per_episode.equal(plain.per_episode)
    support, query = features[episodes.support], features[episodes.query].flatten(1, 2)
    strong = LabelSmoothedFineTuning(smoothing=0.5).fit(support, query)
    usual = FineTuning().fit(support, query)
    # Smoothed targets keep the weights closer to the start: smaller logit margins.
    assert strong.logits(query).std() < usual.logits(query).std()


def test_registry_refuses_clashes_and_non_methods(smoothed):
    name, _ = smoothed
    with pytest.raises(ValueError, match="already registered"):
        register_method(name, LabelSmoothedFineTuning(smoothing=0.3))
    with pytest.raises(ValueError, match="already names"):
        register_method("another", LabelSmoothedFineTuning(smoothing=0.2), key="finetune-smooth")
    with pytest.raises(ValueError, match="must be a FewShotMethod"):
        register_method("not a method", object())


def test_every_method_declares_whether_it_is_transductive():
    assert [METHODS[name].transductive for name in METHODS] == [
        False,  # prototype
        False,  # fine-tune (random init)
        False,  # fine-tune (W = M)
        True,  # W = M + entropy: the entropy term uses the queries
        False,  # W = M + cosine
        True,  # W = M + entropy + cosine
    ]
    assert resolve_method(None) == ("prototype", PrototypeMethod())
    assert set(METHOD_KEYS.values()) <= set(METHODS)
