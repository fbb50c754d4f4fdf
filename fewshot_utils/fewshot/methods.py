"""The course's methods by name: the rows of the benchmark table, and how to add one.

=============================  =====================  ============================
method                         CLI key                 what it is
=============================  =====================  ============================
``prototype``                  ``prototype``           no fine-tuning: W = M, b = 0
``fine-tune (random init)``    ``finetune-random``     trick 1 from a random start
``fine-tune (W = M)``          ``finetune-init``       trick 1 from W = M, b = 0
``W = M + entropy``            ``finetune-entropy``    + query entropy (trick 2)
``W = M + cosine``             ``finetune-cosine``     + cosine classifier (trick 3)
``W = M + entropy + cosine``   ``finetune-all``        all three tricks
=============================  =====================  ============================

Every fine-tuning method runs the same optimiser (full-batch Adam, one learning rate
and number of steps), so the methods differ only by their trick. The learning rate,
steps, λ and s were chosen on held-out *background* alphabets, never on the evaluation
ones, by ``benchmarks/choose_fine_tuning.py`` (its record:
``benchmarks/choose_fine_tuning.txt``).

**Adding a method** takes one file and one line: define it (a
:class:`~fewshot_utils.fewshot.classifier.FewShotMethod`, e.g. a subclass of
:class:`~fewshot_utils.fewshot.fine_tuning.FineTuning` with another
:meth:`~fewshot_utils.fewshot.fine_tuning.FineTuning.support_loss`), then
``register_method("its name", TheMethod(...), key="cli-key")``. It then appears in
``evaluate``, ``benchmark``, ``predict``, the command line and the notebooks' tables.
"""

from __future__ import annotations

from fewshot_utils.fewshot.classifier import FewShotMethod
from fewshot_utils.fewshot.fine_tuning import DEFAULT_ENTROPY_WEIGHT, FineTuning
from fewshot_utils.fewshot.prototypes import PrototypeMethod

#: The methods, in the order of the benchmark table: name -> method.
METHODS: dict[str, FewShotMethod] = {}

#: Short ASCII keys for the command line: key -> method name in :data:`METHODS`.
METHOD_KEYS: dict[str, str] = {}

#: The reference every other method is compared with (paired differences).
REFERENCE = "prototype"


def register_method(name: str, method: FewShotMethod, key: str | None = None) -> FewShotMethod:
    """Add ``method`` to :data:`METHODS` as ``name`` (and to :data:`METHOD_KEYS` as ``key``).

    Raises ``ValueError`` if the name or key is taken by another method, or if ``method``
    is not a :class:`~fewshot_utils.fewshot.classifier.FewShotMethod`.
    """
    if not isinstance(method, FewShotMethod):
        raise ValueError(
            f"{name!r}: a method must be a FewShotMethod (e.g. FineTuning(...)), "
            f"got {type(method).__name__}"
        )
    if name in METHODS and METHODS[name] != method:
        raise ValueError(f"a different method is already registered as {name!r}")
    if key is not None and METHOD_KEYS.get(key, name) != name:
        raise ValueError(f"the key {key!r} already names {METHOD_KEYS[key]!r}")
    METHODS[name] = method
    if key is not None:
        METHOD_KEYS[key] = name
    return method


def unregister_method(name: str) -> None:
    """Remove a method (and its key): for a test, or a notebook's experiment."""
    METHODS.pop(name, None)
    for key in [key for key, value in METHOD_KEYS.items() if value == name]:
        del METHOD_KEYS[key]


register_method("prototype", PrototypeMethod(), key="prototype")
register_method("fine-tune (random init)", FineTuning(init="random"), key="finetune-random")
register_method("fine-tune (W = M)", FineTuning(init="prototypes"), key="finetune-init")
register_method(
    "W = M + entropy", FineTuning(entropy_weight=DEFAULT_ENTROPY_WEIGHT), key="finetune-entropy"
)
register_method("W = M + cosine", FineTuning(classifier="cosine"), key="finetune-cosine")
# All three tricks keep their own setting (lr 0.1, λ = 0.1, s = 20): the search, one
# setting at a time, chose lr 0.3, λ = 0.03, s = 10 for every method, but on fresh
# held-out episodes this joint setting was ahead of that choice by 0.39 points on the mean
# (1.19 in 20-way 1-shot): see the note at the top of benchmarks/choose_fine_tuning.txt.
register_method(
    "W = M + entropy + cosine",
    FineTuning(entropy_weight=0.1, classifier="cosine", scale=20.0, lr=0.1),
    key="finetune-all",
)


def resolve_method(method) -> tuple[str, FewShotMethod]:
    """``(name, method)`` of a method given as a name, a CLI key, or a method object.

    ``None`` means the prototype classifier. A method object that is registered gets its
    registered name; another one is named by its description.
    """
    if method is None:
        method = REFERENCE
    if isinstance(method, FewShotMethod):
        for name, registered in METHODS.items():
            if registered == method:
                return name, registered
        if isinstance(method, FineTuning):
            return f"fine-tune ({method.describe()})", method
        return method.describe(), method
    if isinstance(method, str):
        name = METHOD_KEYS.get(method, method)
        if name in METHODS:
            return name, METHODS[name]
    choices = ", ".join(repr(key) for key in METHOD_KEYS)
    raise ValueError(
        f"unknown method {method!r}: use one of {choices}, a name of METHODS, or a method "
        "such as FineTuning(...)"
    )
