"""The evaluation protocol: batched = one episode at a time, CIs, paired differences, the table."""

import json
import math

import pytest
import torch

from fewshot_utils.fewshot.benchmark import Setting, run_benchmark
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import (
    episode_features,
    evaluate,
    evaluate_per_episode_loop,
    mean_and_ci,
    paired_difference,
)
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.methods import METHOD_KEYS, METHODS, resolve_method
from fewshot_utils.fewshot.prototypes import PrototypeMethod
from fewshot_utils.viz.tables import benchmark_table

#: The toy clusters of these tests (``make_clusters`` in conftest.py).
TOY = dict(classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True)


def test_episode_features_gathers_support_queries_and_labels(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    episodes = sample_episodes(labels, ways=3, shots=2, queries=4, episodes=5, seed=1)
    support, query, query_labels = episode_features(features, episodes)
    assert support.shape == (5, 3, 2, 16) and query.shape == (5, 12, 16)
    assert torch.equal(support[4, 2, 1], features[episodes.support[4, 2, 1]])
    assert torch.equal(query[4, 2 * 4 + 3], features[episodes.query[4, 2, 3]])  # class-major
    assert query_labels[0].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # Every query's true class is the class its episode label points to.
    assert torch.equal(labels[episodes.query].flatten(1), episodes.classes.repeat_interleave(4, 1))


def test_episode_features_errors(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    episodes = sample_episodes(labels, 3, 1, 2, 2)
    with pytest.raises(ValueError, match="sample the episodes from the labels of the same split"):
        episode_features(features[:50], episodes)
    with pytest.raises(ValueError, match=r"features must be \[I, d\]"):
        episode_features(features[None], episodes)


def test_mean_and_ci_by_hand():
    # values 98, 100, 96, 98: mean 98; deviations 0, 2, -2, 0 -> Σ = 8,
    # std = √(8 / (4 - 1)) = 1.63299, ci95 = 1.96 · 1.63299 / √4 = 1.60033
    mean, ci95 = mean_and_ci(torch.tensor([98.0, 100.0, 96.0, 98.0]))
    assert mean == pytest.approx(98.0)
    assert ci95 == pytest.approx(1.96 * math.sqrt(8 / 3) / 2)
    assert ci95 == pytest.approx(1.600333, abs=1e-6)
    assert math.isnan(mean_and_ci(torch.tensor([90.0]))[1])
    with pytest.raises(ValueError, match="at least one value"):
        mean_and_ci(torch.tensor([]))


@pytest.mark.parametrize(
    "method",
    [
        "prototype",
        "fine-tune (random init)",
        FineTuning(entropy_weight=0.1, classifier="cosine", learn_scale=True, steps=20),
    ],
    ids=str,
)
def test_batched_evaluation_equals_the_per_episode_loop(method, clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    episodes = sample_episodes(labels, ways=5, shots=2, queries=5, episodes=12, seed=2)
    if isinstance(method, str) and method != "prototype":
        method = FineTuning(init="random", steps=20)  # short, same tricks
    batched = evaluate(features, episodes, method, chunk_size=5)
    looped = evaluate_per_episode_loop(features, episodes, method)
    assert torch.allclose(batched.per_episode, looped.per_episode)
    assert batched.accuracy == pytest.approx(looped.accuracy)
    assert batched.ci95 == pytest.approx(looped.ci95)
    whole = evaluate(features, episodes, method, chunk_size=100)  # chunks change nothing
    assert torch.allclose(whole.per_episode, batched.per_episode)


def test_result_fields_and_json(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    episodes = sample_episodes(labels, ways=4, shots=1, queries=3, episodes=6)
    result = evaluate(features, episodes, "finetune-cosine")
    assert result.method == "W = M + cosine"
    assert (result.episodes, result.ways, result.shots, result.queries) == (6, 4, 1, 3)
    assert result.per_episode.shape == (6,)
    # The mean and 1.96 · std / √E of the per-episode accuracies (sample std, E = 6).
    per_episode = result.per_episode.double()
    assert result.accuracy == pytest.approx(per_episode.mean().item())
    assert result.ci95 == pytest.approx(1.96 * per_episode.std().item() / math.sqrt(6))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["config"]["classifier"] == "cosine" and data["ci95"] == pytest.approx(result.ci95)
    assert str(result).startswith("W = M + cosine: ")


def test_methods_table_in_the_course_order():
    assert list(METHODS) == [
        "prototype",
        "fine-tune (random init)",
        "fine-tune (W = M)",
        "W = M + entropy",
        "W = M + cosine",
        "W = M + entropy + cosine",
    ]
    assert list(METHOD_KEYS.values()) == list(METHODS)
    assert all(key.isascii() and " " not in key for key in METHOD_KEYS)
    assert isinstance(METHODS["prototype"], PrototypeMethod)
    assert METHODS["fine-tune (random init)"].init == "random"
    all_three = METHODS["W = M + entropy + cosine"]
    assert (all_three.init, all_three.classifier) == ("prototypes", "cosine")
    assert all_three.entropy_weight > 0
    assert resolve_method("finetune-all") == ("W = M + entropy + cosine", all_three)
    assert resolve_method(None) == ("prototype", PrototypeMethod())
    name, config = resolve_method(FineTuning(steps=7))
    assert name.startswith("fine-tune (W = M, linear") and config.steps == 7
    with pytest.raises(ValueError, match="unknown method 'protonet': use one of 'prototype'"):
        resolve_method("protonet")


def test_paired_difference_needs_the_same_episodes(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    episodes = sample_episodes(labels, 5, 1, 5, 30, seed=0)
    prototype = evaluate(features, episodes, "prototype")
    cosine = evaluate(features, episodes, FineTuning(classifier="cosine", steps=10))
    difference = paired_difference(cosine, prototype)
    assert difference.mean == pytest.approx(cosine.accuracy - prototype.accuracy)
    assert torch.allclose(difference.per_episode, cosine.per_episode - prototype.per_episode)
    other = evaluate(features, sample_episodes(labels, 5, 1, 5, 30, seed=1), "prototype")
    with pytest.raises(ValueError, match="evaluated on different episodes"):
        paired_difference(cosine, other)


def test_chunk_size_must_be_positive(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    with pytest.raises(ValueError, match="chunk_size must be a whole number >= 1"):
        evaluate(features, sample_episodes(labels, 3, 1, 2, 2), chunk_size=0)


# ----------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------


def test_run_benchmark_rows(clusters):
    features, labels = clusters(
        classes=12, per_class=10, dim=16, noise=1.2, unit_centres=False, relu=True
    )
    rows = run_benchmark(
        features,
        labels,
        episodes=8,
        settings=((3, 1), (4, 2)),
        methods=("prototype", "finetune-cosine"),
        queries=3,
    )
    assert [(r["method"], r["ways"], r["shots"]) for r in rows] == [
        ("prototype", 3, 1),
        ("W = M + cosine", 3, 1),
        ("prototype", 4, 2),
        ("W = M + cosine", 4, 2),
    ]
    for row in rows:
        assert set(row) == {
            "method", "setting", "ways", "shots", "within_alphabet", "episodes", "accuracy",
            "ci95", "seconds", "paired_vs_prototype", "paired_ci95",
        }  # fmt: skip
        assert row["episodes"] == 8
    assert rows[0]["paired_vs_prototype"] == 0.0 and rows[0]["paired_ci95"] == 0.0
    assert rows[1]["paired_vs_prototype"] == pytest.approx(
        rows[1]["accuracy"] - rows[0]["accuracy"]
    )
    json.dumps(rows)  # plain numbers only
    assert [r["setting"] for r in rows[::2]] == ["3-way 1-shot", "4-way 2-shot"]


def test_lakes_task_draws_every_episode_from_one_alphabet(clusters):
    features, labels = clusters(classes=30, per_class=20, dim=16, noise=0.5)
    alphabets = torch.tensor([0] * 8 + [1] * 12 + [2] * 10)  # 8 classes: too few for 10 ways
    lake = Setting(10, 1, within_alphabet=True)
    rows = run_benchmark(
        features, labels, episodes=40, settings=[lake], methods=["prototype"],
        alphabets=alphabets,
    )  # fmt: skip
    assert rows[0]["setting"] == "10-way 1-shot, one alphabet" and rows[0]["within_alphabet"]
    episodes = sample_episodes(labels, 10, 1, 15, 200, seed=0, groups=alphabets)
    of_episode = alphabets[episodes.classes]  # [E, N]
    assert (of_episode == of_episode[:, :1]).all()  # one alphabet per episode
    assert set(of_episode[:, 0].tolist()) == {1, 2}  # never the alphabet of 8 classes
    with pytest.raises(ValueError, match="needs each class's alphabet"):
        run_benchmark(features, labels, episodes=4, settings=[lake], methods=["prototype"])
    with pytest.raises(ValueError, match="largest has 12: ask for at most 12 ways"):
        sample_episodes(labels, 15, 1, 15, 4, groups=alphabets)


def test_benchmark_table_format():
    def row(method, ways, shots, accuracy, ci95, seconds, paired, paired_ci):
        return {
            "method": method, "ways": ways, "shots": shots, "episodes": 1000,
            "accuracy": accuracy, "ci95": ci95, "seconds": seconds,
            "paired_vs_prototype": paired, "paired_ci95": paired_ci,
        }  # fmt: skip

    rows = [
        row("prototype", 5, 1, 97.12, 0.31, 0.2, 0.0, 0.0),
        row("W = M + cosine", 5, 1, 97.64, 0.29, 3.0, 0.52, 0.11),
        row("prototype", 20, 5, 97.61, 0.08, 0.5, 0.0, 0.0),
        row("W = M + cosine", 20, 5, 97.5, 0.081, 4.25, -0.113, 0.049),
    ]
    assert benchmark_table(rows) == (
        "| method | 5-way 1-shot | 20-way 5-shot | seconds |\n"
        "|---|---:|---:|---:|\n"
        "| prototype | 97.1 ± 0.3 | 97.6 ± 0.1 | 0.7 |\n"
        "| W = M + cosine | 97.6 ± 0.3 | 97.5 ± 0.1 | 7.2 |\n"
    )
    assert benchmark_table(rows, paired=True) == (
        "| method | 5-way 1-shot | 20-way 5-shot | seconds |\n"
        "|---|---:|---:|---:|\n"
        "| prototype | reference | reference | 0.7 |\n"
        "| W = M + cosine | +0.52 ± 0.11 | -0.11 ± 0.05 | 7.2 |\n"
    )


# ----------------------------------------------------------------------------
# The command line: evaluate and benchmark on a tiny Omniglot
# ----------------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path):
    from fewshot_utils.models.checkpoints import save_checkpoint
    from fewshot_utils.models.conv4 import Conv4, Preprocessing

    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "conv4.pt", Conv4(channels=8), Preprocessing())


def test_cli_evaluate_and_benchmark(tmp_path, tiny_omniglot_zips, checkpoint, capsys):
    from fewshot_utils.cli import main

    data = ["--dataset", "omniglot", "--data-dir", str(tmp_path / "data"), "--zips"]
    data += [str(z) for z in tiny_omniglot_zips]
    common = ["--checkpoint", str(checkpoint), *data]
    out = tmp_path / "out" / "evaluate.json"
    arguments = ["evaluate", *common, "--ways", "2", "--shots", "1", "--queries", "3"]
    arguments += [
        "--episodes",
        "6",
        "--method",
        "finetune-cosine",
        "--steps",
        "5",
        "--json",
        str(out),
    ]
    assert main(arguments) == 0
    result = json.loads(out.read_text())
    assert {"accuracy", "ci95", "episodes", "seconds", "ways", "shots", "method"} <= set(result)
    assert result["episodes"] == 6 and result["config"]["steps"] == 5
    assert f"{result['accuracy']:.2f} ± {result['ci95']:.2f} %" in capsys.readouterr().out

    rows_file, table_file = tmp_path / "rows.json", tmp_path / "table.md"
    arguments = ["benchmark", *common, "--episodes", "4", "--queries", "2", "--settings", "2x1"]
    arguments += ["--methods", "prototype", "finetune-init", "--json", str(rows_file)]
    assert main([*arguments, "--markdown", str(table_file)]) == 0
    rows = json.loads(rows_file.read_text())
    assert [row["method"] for row in rows] == ["prototype", "fine-tune (W = M)"]
    assert "| method | 2-way 1-shot | seconds |" in table_file.read_text()


def test_cli_trick_switches_need_a_fine_tuning_method(checkpoint, capsys):
    from fewshot_utils.cli import main

    arguments = ["evaluate", "--checkpoint", str(checkpoint), "--method", "prototype"]
    assert main([*arguments, "--entropy-weight", "0.1"]) == 2
    assert "--entropy-weight change a fine-tuning method's settings" in capsys.readouterr().err
