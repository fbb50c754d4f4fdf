"""The notebook-03 checkers: right answers pass, each usual slip gets its own hint, none raise."""

import pytest
import torch

from fewshot_utils.exercises.cosine import check_cosine_similarity, check_l2_normalize


def good_l2(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def good_cosine(a, b):
    return (good_l2(a) * good_l2(b)).sum(dim=-1)


def placeholder(*arguments):
    return None  # your code here


def test_right_answers_pass(capsys):
    assert check_l2_normalize(good_l2) is True
    assert check_cosine_similarity(good_cosine) is True
    assert check_l2_normalize(lambda x: torch.nn.functional.normalize(x, dim=-1)) is True
    output = capsys.readouterr().out
    assert output.count("✅") == 3 and "❌" not in output


def test_torch_normalize_with_its_default_dim_is_caught(capsys):
    # F.normalize works along dim=1 by default: not the last dimension of a single vector
    assert check_l2_normalize(torch.nn.functional.normalize) is False
    assert "last dimension" in capsys.readouterr().out


def test_torch_cosine_similarity_passes(capsys):
    # torch's own function (eps 1e-8) is a correct answer too
    assert check_cosine_similarity(lambda a, b: torch.cosine_similarity(a, b, dim=-1)) is True


@pytest.mark.parametrize("check", [check_l2_normalize, check_cosine_similarity])
def test_not_answered_yet_is_kind(check, capsys):
    assert check(None) is False
    assert check(placeholder) is False
    output = capsys.readouterr().out
    assert output.count("Not answered yet") == 2 and "❌" not in output


L2_SLIPS = [
    (lambda x: x / x.norm(dim=-1, keepdim=True), "NaN", "clamp"),
    (lambda x: x / x.norm(), "lengths of its rows", "whole tensor"),
    (lambda x: x / x.norm(dim=-1), "", "keepdim=True"),
    (lambda x: x / (x**2).sum(dim=-1, keepdim=True), "not x / |x|", "square root"),
    (lambda x: x / x.abs().sum(dim=-1, keepdim=True), "not x / |x|", "L1"),
    (lambda x: x.norm(dim=-1), "has shape", "keepdim"),
    (lambda x: 1 / 0, "raised ZeroDivisionError", "last dimension"),
    (lambda x: "hello", "did not return a number or a tensor", None),
]


@pytest.mark.parametrize("slip, message, hint", L2_SLIPS)
def test_l2_slips_get_specific_messages(slip, message, hint, capsys):
    assert check_l2_normalize(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and message in output
    if hint:
        assert hint in output


def test_l2_column_normalisation_is_named(capsys):
    def columns(x):
        return x / x.norm(dim=0, keepdim=True)

    assert check_l2_normalize(columns) is False
    output = capsys.readouterr().out
    # a single vector [2] has one row, so the slip shows on the first batch
    assert "columns" in output


def dot(a, b):
    return (a * b).sum(dim=-1)


COSINE_SLIPS = [
    (dot, "0.96", "inner product"),
    (lambda a, b: dot(a, b) / (a.norm(dim=-1) * b.norm(dim=-1)), "NaN", "clamp"),
    (lambda a, b: dot(a, b) / (a.norm(dim=-1) * b.norm(dim=-1)) ** 2, "you get", "squared"),
    (lambda a, b: dot(a, b) / a.norm(dim=-1), "you get", "|a| only"),
    (lambda a, b: 1 - good_cosine(a, b), "you get", "distance"),
    (lambda a, b: good_l2(a) @ good_l2(b), "raised", "(a * b).sum(dim=-1)"),
    (lambda a, b: torch.dot(a, b) / (a.norm() * b.norm()), "raised", "torch.dot"),
    (lambda a, b: good_l2(a) @ good_l2(b).transpose(-1, -2), "", ""),
    (lambda a, b: good_cosine(a, b).sum(), "shape", "dim=-1"),
]


@pytest.mark.parametrize("slip, message, hint", COSINE_SLIPS)
def test_cosine_slips_get_specific_messages(slip, message, hint, capsys):
    assert check_cosine_similarity(slip) is False
    output = capsys.readouterr().out
    assert "❌" in output and message in output and hint in output
    assert "Hint:" in output


def test_cosine_matrix_instead_of_rows_is_explained(capsys):
    def every_pair(a, b):
        if a.dim() == 1:
            return good_cosine(a, b)
        return good_l2(a) @ good_l2(b).transpose(-1, -2)

    assert check_cosine_similarity(every_pair) is False
    output = capsys.readouterr().out
    assert "every row of a with every row of b" in output


def test_checkers_do_not_change_the_learners_view_of_inputs(capsys):
    seen = []

    def in_place(a, b):
        seen.append(a.clone())
        a /= a.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # modifies its own copy only
        return good_cosine(a, b)

    assert check_cosine_similarity(in_place) is True
    assert torch.equal(seen[0], torch.tensor([3.0, 4.0]))
