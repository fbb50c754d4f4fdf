"""Checking a pretraining recipe when it is made, before any work starts.

:func:`check_recipe` checks the fields every :class:`~fewshot_utils.training.loop.TrainingRecipe`
has (epochs, AdamW's settings, Conv4's width, the held-out drawings, the augmentation, the
seed) with the course's rules (:mod:`fewshot_utils.validation`); the configs of supervised and
Siamese pretraining call it from their ``__post_init__`` and check their own fields after it.
A wrong value raises :class:`~fewshot_utils.validation.InputError` naming the field, the
value and the range, instead of an error from deep inside torch minutes later.
"""

from __future__ import annotations

from fewshot_utils.validation import Rule, check, check_flag, check_number

#: The recipe's fields that :data:`fewshot_utils.validation.RULES` does not name.
RECIPE_RULES = {
    "weight_decay": Rule(least=0, most=1, hint="AdamW's weight decay; the course uses 5e-4"),
    "channels": Rule(True, least=1, most=1024, hint="Conv4's width; the course uses 64"),
    "validation_per_class": Rule(
        True, least=0, most=1000, hint="drawings held out per class; the course holds out 4"
    ),
    "rotation": Rule(least=0, most=180, hint="degrees; the course uses 10"),
    "scale": Rule(least=0, most=0.9, hint="zoom in 1 ± scale; the course uses 0.1"),
    "shift": Rule(least=0, most=100, hint="pixels; the course uses 2"),
    "shear": Rule(least=0, most=1, hint="the course uses 0.1"),
}


def check_fields(config, rules: dict[str, Rule]) -> None:
    """Check (and store back, e.g. ``5.0 -> 5``) each field of ``config`` named in ``rules``."""
    for name, field_rule in rules.items():
        setattr(config, name, check_number(getattr(config, name), name, field_rule))


def check_recipe(recipe) -> None:
    """Check a :class:`~fewshot_utils.training.loop.TrainingRecipe`'s shared fields in place."""
    for name in ("epochs", "lr", "seed"):
        setattr(recipe, name, check(name, getattr(recipe, name)))
    check_fields(recipe, RECIPE_RULES)
    check_flag(recipe.augment, "augment")
