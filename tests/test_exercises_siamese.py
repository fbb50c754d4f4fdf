"""Checker of notebook 02: label pairs same (1) or different (0)."""

import pytest
import torch

from fewshot_utils.exercises.siamese import check_pair_labels

LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
FIRST = torch.tensor([0, 2, 4, 1, 3])
SECOND = torch.tensor([1, 3, 0, 5, 3])
RIGHT = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "answer", [RIGHT, RIGHT.bool(), RIGHT.long(), RIGHT.tolist(), [True, True, False, False, True]]
)
def test_pair_checker_accepts_any_form_of_the_right_answer(answer, capsys):
    assert check_pair_labels(answer, LABELS, FIRST, SECOND) is True
    assert "3 of the 5 pairs show the same class" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, hint",
    [
        (None, "Not answered yet"),
        (1 - RIGHT, "the other way round"),
        ((FIRST == SECOND).float(), "compared the image indices"),
        (RIGHT[:3], "got 3 values for 5 pairs"),
        (torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]), "1 of 5 pairs are wrong"),
        (torch.tensor([2.0, 1.0, 0.0, 0.0, 1.0]), "use 1 (or True)"),
        ("same", "give a tensor"),
    ],
)
def test_pair_checker_explains_wrong_answers(answer, hint, capsys):
    assert check_pair_labels(answer, LABELS, FIRST, SECOND) is False
    assert hint in capsys.readouterr().out
