"""Checkers of notebook 01: accuracy from logits, and f(x) without the head."""

import pytest
import torch

from fewshot_utils.exercises.pretraining import check_accuracy_function, check_features
from fewshot_utils.training.supervised import PretrainingModel


def right(logits, labels):
    return 100.0 * (logits.argmax(dim=1) == labels).float().mean()


def test_accuracy_checker_accepts_a_right_function(capsys):
    assert check_accuracy_function(right) is True
    assert check_accuracy_function(lambda lo, la: right(lo, la).item()) is True
    assert capsys.readouterr().out.startswith("✅")


def test_accuracy_checker_not_answered(capsys):
    assert check_accuracy_function(None) is False
    assert check_accuracy_function(lambda logits, labels: None) is False
    assert capsys.readouterr().out.count("Not answered yet") == 2


@pytest.mark.parametrize(
    "function, hint",
    [
        (lambda lo, la: right(lo, la) / 100, "a fraction"),
        (lambda lo, la: 100.0 * (lo.argmax(dim=0) == la).float().mean(), "raised RuntimeError"),
        (lambda lo, la: 100.0 * (lo.argmin(dim=1) == la).float().mean(), "argmax(dim=1)"),
        (lambda lo, la: lo.argmax(dim=1) == la, "return one number"),
        (lambda lo, la: 1 / 0, "raised ZeroDivisionError"),
        (42, "give a function"),
    ],
)
def test_accuracy_checker_explains_wrong_functions(function, hint, capsys):
    assert check_accuracy_function(function) is False
    out = capsys.readouterr().out
    assert out.startswith("❌") and hint in out


def test_features_checker():
    torch.manual_seed(0)
    model = PretrainingModel(num_classes=10).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        features = model.backbone(x)
    assert check_features(features, model, x) is True
    assert check_features(None, model, x) is False


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda m, x, f, lo: lo, "these are the logits"),
        (lambda m, x, f, lo: f[:2], "expected (4, 64)"),
        (lambda m, x, f, lo: f + 1, "not f(x)"),
        (lambda m, x, f, lo: f.tolist(), "give a tensor"),
    ],
)
def test_features_checker_explains_wrong_answers(make, hint, capsys):
    torch.manual_seed(0)
    model = PretrainingModel(num_classes=10)
    model.train()
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        features, logits = model.backbone(x), model(x)
    model.train()
    assert check_features(make(model, x, features, logits), model, x) is False
    assert model.training  # the checker leaves the model as it found it
    out = capsys.readouterr().out
    assert out.startswith("❌") and hint in out
