"""The notebook-08 helpers: the verdict checker, the verdict table and figure, published numbers."""

import pytest
from matplotlib.figure import Figure

from fewshot_utils.exercises.together import HAND_MADE, check_verdict
from fewshot_utils.fewshot.benchmark import PUBLISHED, run_benchmark
from fewshot_utils.fewshot.evaluation import verdict as trick_verdict
from fewshot_utils.viz.results import paired_differences_figure
from fewshot_utils.viz.tables import published_table, verdict_table


def rows():
    """Benchmark-like rows: two settings, the prototypes and two tricks."""
    made = []
    for ways, shots, differences in (
        (5, 1, {"trick A": (0.56, 0.21), "trick B": (-1.9, 0.4)}),
        (5, 5, {"trick A": (0.1, 0.2), "trick B": (-0.3, 0.1)}),
    ):
        made.append(dict(method="prototype", ways=ways, shots=shots, episodes=1000,
                         accuracy=97.0, ci95=0.3, seconds=0.1,
                         paired_vs_prototype=0.0, paired_ci95=0.0))  # fmt: skip
        for method, (mean, ci95) in differences.items():
            made.append(dict(method=method, ways=ways, shots=shots, episodes=1000,
                             accuracy=97.0 + mean, ci95=0.3, seconds=1.0,
                             paired_vs_prototype=mean, paired_ci95=ci95))  # fmt: skip
    return made


def test_the_reference_verdicts():
    for mean, ci95, expected in HAND_MADE:
        assert trick_verdict(mean, ci95) == expected
    assert trick_verdict(0.0, 0.0) == "unclear"


def test_right_answer_passes_and_counts_the_benchmark(capsys):
    def verdict(mean, ci95):
        low, high = mean - ci95, mean + ci95
        return "helps" if low > 0 else "hurts" if high < 0 else "unclear"

    assert check_verdict(verdict) is True
    assert "✅" in capsys.readouterr().out
    assert check_verdict(verdict, rows()) is True
    assert "4 method-setting pairs against the prototypes): 1 helps, 2 hurts, 1 unclear" in (
        capsys.readouterr().out
    )


def test_not_answered_yet(capsys):
    assert check_verdict(None) is False
    assert check_verdict(lambda mean, ci95: None) is False
    output = capsys.readouterr().out
    assert output.count("Not answered yet") == 2 and "❌" not in output


SLIPS = [
    (lambda mean, ci95: "helps" if mean > 0 else "hurts", "sign of the mean alone"),
    (lambda mean, ci95: "helps" if mean - ci95 > 0 else "unclear", "can also make things worse"),
    (lambda mean, ci95: "helps" if mean > ci95 else "hurts", "compare the interval's ends"),
    (lambda mean, ci95: mean - ci95 > 0, "exactly one of the strings"),
    (lambda mean, ci95: "Helps", "exactly one of the strings"),
    (lambda mean: "helps", "raised TypeError"),
]


@pytest.mark.parametrize("slip, message", SLIPS)
def test_each_slip_gets_its_own_message(slip, message, capsys):
    assert check_verdict(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and message in output, output


def test_verdict_table_and_figure():
    table = verdict_table(rows())
    assert table.splitlines()[0] == "| method | 5-way 1-shot | 5-way 5-shot |"
    assert "| trick A | +0.56 ± 0.21 **helps** | +0.10 ± 0.20 **unclear** |" in table
    assert "| trick B | -1.90 ± 0.40 **hurts** | -0.30 ± 0.10 **hurts** |" in table
    assert "prototype" not in table
    figure = paired_differences_figure(rows(), title="t")
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    with pytest.raises(ValueError, match="nothing to compare"):
        paired_differences_figure([r for r in rows() if r["method"] == "prototype"])


def test_published_table_puts_ours_beside_the_papers():
    table = published_table(rows(), ours=("prototype", "trick A"))
    lines = table.splitlines()
    shown = [
        entry for entry in PUBLISHED if {"5-way 1-shot", "5-way 5-shot"} & set(entry["accuracy"])
    ]
    assert len(lines) == 2 + len(shown) + 2  # Lake et al.'s task is not among these settings
    assert "| Snell et al. 2017 | Prototypical Networks |" in lines[2]
    assert lines[2].endswith("| 98.8 | 99.7 |")
    assert lines[-1].endswith(
        "| trick A | Omniglot, Lake's split | Conv4 | 97.6 ± 0.3 | 97.1 ± 0.3 |"
    )


def test_on_real_benchmark_rows():
    import torch

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(8).repeat_interleave(6)
    features = torch.randn(8, 16, generator=generator)[labels] + 0.8 * torch.randn(
        48, 16, generator=generator
    )
    made = run_benchmark(features, labels, episodes=20, settings=((5, 1),), queries=3,
                         methods=("prototype", "finetune-init"))  # fmt: skip
    assert "W = M" in verdict_table(made)
    assert isinstance(paired_differences_figure(made), Figure)
    assert "| **this course** | prototype |" in published_table(made)
