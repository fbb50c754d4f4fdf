"""Checkers for notebook 01 (pretraining): accuracy from logits, and dropping the head.

Each checker prints what is right, or what is wrong and a hint, and returns
``True``/``False``; it never raises, so the notebook runs top to bottom.
"""

from __future__ import annotations

import torch

from fewshot_utils.exercises.checking import REPLACE_NONE, not_answered, report

# Hand-made examples: 4 images, 3 classes (not square, so a wrong dimension shows).
EXAMPLES = (
    # logits [4, 3], labels [4], accuracy %
    (
        torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 2.0, 9.0]]),
        torch.tensor([0, 1, 1, 0]),
        50.0,
    ),
    (
        torch.tensor([[0.1, 0.2, 0.9], [5.0, -1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 3.0, 1.0]]),
        torch.tensor([2, 0, 2, 1]),
        100.0,
    ),
    (
        torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
        torch.tensor([2, 2, 2, 2]),
        25.0,
    ),
)


def check_accuracy_function(accuracy_function) -> bool:
    """Does ``accuracy_function(logits [B, C], labels [B])`` return the accuracy in %?

    It is tried on hand-made examples (a float or a one-element tensor are both fine).
    """
    if accuracy_function is None:
        return not_answered(REPLACE_NONE)
    if not callable(accuracy_function):
        return report(False, "give a function of (logits, labels), not a value.")
    for logits, labels, expected in EXAMPLES:
        try:
            value = accuracy_function(logits.clone(), labels.clone())
        except Exception as error:  # the learner's code: report, never raise
            return report(
                False,
                f"your function raised {type(error).__name__}: {error}. Hint: the predicted "
                "class is the largest logit of each row, `logits.argmax(dim=1)`.",
            )
        if value is None:
            return not_answered(REPLACE_NONE)
        try:
            value = float(value)
        except (TypeError, ValueError, RuntimeError):
            return report(False, f"return one number, got {value!r}.")
        if abs(value - expected) < 1e-4:
            continue
        if abs(100 * value - expected) < 1e-4:
            return report(False, f"got {value:g}, a fraction: the course gives accuracy in %.")
        hint = "predictions = logits.argmax(dim=1); accuracy = 100 * mean(predictions == labels)."
        return report(
            False,
            f"on logits {logits.tolist()} and labels {labels.tolist()} the accuracy is "
            f"{expected:g}%, your function gave {value:g}. Hint: {hint}",
        )
    return report(
        True,
        "the prediction is the largest logit of each row, and accuracy the % of "
        "predictions equal to the labels.",
    )


def check_features(answer, model, x: torch.Tensor) -> bool:
    """Is ``answer`` f(x) for the input batch ``x``: the model's backbone without its head,
    ``[B, d]``? ``model``: the pretraining model (backbone + head)."""
    if answer is None:
        return not_answered(REPLACE_NONE)
    if not isinstance(answer, torch.Tensor):
        return report(False, f"give a tensor, got {type(answer).__name__}.")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        features = model.backbone(x)
        logits = model.head(features)
    model.train(was_training)
    answer = answer.detach()
    if answer.shape == logits.shape and answer.shape != features.shape:
        return report(
            False,
            f"shape {tuple(answer.shape)}: these are the logits over the "
            f"{logits.shape[1]} base classes. Drop the head: call `model.backbone` only.",
        )
    if answer.shape != features.shape:
        return report(
            False,
            f"shape {tuple(answer.shape)}, expected {tuple(features.shape)}: one "
            f"{features.shape[1]}-d feature vector per image.",
        )
    if torch.allclose(answer.float(), features, atol=1e-4, rtol=1e-4):
        return report(
            True,
            f"f(x) is {tuple(features.shape)}: {features.shape[1]} numbers per image, "
            "for any class, seen in pretraining or not.",
        )
    return report(
        False,
        "the shape is right but the numbers are not f(x): put the model in eval mode "
        "(`model.eval()`) and call `model.backbone(x)` on the batch `x` you were given.",
    )
