"""Checkers for notebook 02 (Siamese pretraining): label pairs "same" or "different".

Each checker prints what is right, or what is wrong and a hint, and returns
``True``/``False``; it never raises, so the notebook runs top to bottom.
"""

from __future__ import annotations

import torch

from fewshot_utils.exercises.checking import REPLACE_NONE, not_answered, report


def check_pair_labels(answer, labels, first, second) -> bool:
    """Is ``answer`` ``[P]`` with 1 where images ``first[p]`` and ``second[p]`` share a class
    (``labels[first[p]] == labels[second[p]]``) and 0 where they differ? Booleans, integers
    or floats are all fine."""
    if answer is None:
        return not_answered(REPLACE_NONE)
    labels, first, second = (torch.as_tensor(t) for t in (labels, first, second))
    try:
        answer = torch.as_tensor(answer).flatten().to(torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return report(False, "give a tensor (or a list) of 0/1 or True/False, one per pair.")
    expected = (labels[first] == labels[second]).to(torch.float32)
    if answer.shape != expected.shape:
        return report(
            False, f"got {answer.numel()} values for {len(expected)} pairs: give one per pair."
        )
    if not torch.isin(answer, torch.tensor([0.0, 1.0])).all():
        return report(False, "use 1 (or True) for 'same' and 0 (or False) for 'different'.")
    if torch.equal(answer, expected):
        same = int(expected.sum())
        return report(
            True,
            f"{same} of the {len(expected)} pairs show the same class, "
            f"{len(expected) - same} different classes.",
        )
    if torch.equal(answer, 1 - expected):
        return report(False, "exactly the other way round: 1 means 'same class'.")
    if torch.equal(answer, (first == second).to(torch.float32)):
        return report(
            False,
            "you compared the image indices; compare their classes: "
            "`labels[first] == labels[second]`.",
        )
    wrong = int((answer != expected).sum())
    return report(
        False,
        f"{wrong} of {len(expected)} pairs are wrong. Look up both images' classes, "
        "`labels[first]` and `labels[second]`, and compare them.",
    )
