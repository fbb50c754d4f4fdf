"""What every checker shares: how it calls the learner's function and how it reports.

A checker calls the learner's function with :func:`call` (a copy of the inputs, an
exception reported instead of raised), turns the answer into a tensor or a number
(:func:`as_tensor`, :func:`as_number`), compares it with the package's reference
(:func:`close`), tests likely mistakes against it (:func:`matches`), and prints one
verdict: :func:`passed`, :func:`failed` with a hint, or :func:`not_answered`. Each
returns ``True``/``False``, which the checker returns too.
"""

from __future__ import annotations

import torch

TOLERANCE = 1e-5


def passed(message: str) -> bool:
    print(f"✅ Correct! {message}")
    return True


def failed(message: str, hint: str | None = None) -> bool:
    print(f"❌ Not yet: {message}")
    if hint:
        print(f"   Hint: {hint}")
    return False


def report(correct: bool, message: str) -> bool:
    """:func:`passed` or :func:`failed` (without a hint), as ``correct`` says."""
    return passed(message) if correct else failed(message)


#: What a checker says when the learner's answer is still the ``None`` placeholder.
REPLACE_NONE = "replace None with your answer and run the cell again."


def not_answered(what: str) -> bool:
    print(f"⏳ Not answered yet: {what}")
    return False


def name_of(function) -> str:
    return getattr(function, "__name__", "your function")


def call(function, *arguments):
    """``(result, None)``, or ``(None, "ErrorType: message")`` when the call raised.

    Tensors are cloned first, so a learner's in-place edit cannot change the test case.
    """
    try:
        cloned = [a.clone() if isinstance(a, torch.Tensor) else a for a in arguments]
        return function(*cloned), None
    except Exception as error:  # a learner's bug is reported, never raised
        return None, f"{type(error).__name__}: {error}"


def shape(tensor) -> list[int]:
    return list(tensor.shape)


def as_tensor(result) -> torch.Tensor | None:
    """The learner's result as a float tensor on the CPU (wherever the notebook computed
    it), or ``None`` when it cannot be one."""
    if isinstance(result, torch.Tensor):
        return result.detach().to("cpu", torch.float32)
    try:
        return torch.as_tensor(result, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return None


def as_number(result) -> float | None:
    """A scalar answer (``float``, 0-d or one-element tensor) as a float, else ``None``."""
    tensor = as_tensor(result)
    if tensor is None or tensor.numel() != 1:
        return None
    return float(tensor.reshape(()))


def close(result: torch.Tensor, expected: torch.Tensor, tolerance: float = TOLERANCE) -> bool:
    """Same shape and equal within ``tolerance`` (absolute and relative), compared on the CPU."""
    return result.shape == expected.shape and torch.allclose(
        result.cpu(), expected.cpu(), atol=tolerance, rtol=tolerance
    )


def matches(make_candidate, result: torch.Tensor) -> bool:
    """Whether ``make_candidate()`` (a likely mistake) gives ``result``; ``False`` if it raises."""
    try:
        candidate = make_candidate()
    except Exception:  # the mistake would not even run on this input
        return False
    return candidate.shape == result.shape and torch.allclose(
        candidate.cpu(), result.cpu(), atol=1e-5
    )


def answer(function, arguments, description: str, first: bool, error_hint):
    """Call the learner's function on one case; the answer as a float tensor, or a verdict.

    Returns ``(verdict, tensor)``. ``verdict`` is ``None`` when the function gave something
    that is a tensor (then ``tensor`` holds it); otherwise it is the verdict just printed
    (``False``), which the checker returns at once: the call raised (``error_hint``, a
    string or a function of the error's text, says what to look at), it returned ``None``
    (on the ``first`` case that means "not answered yet"), or not a tensor.
    """
    name = name_of(function)
    result, error = call(function, *arguments)
    if error is not None:
        hint = error_hint(error) if callable(error_hint) else error_hint
        return failed(f"{name} raised {error} on {description}.", hint), None
    if result is None:
        if first:
            return not_answered(f"{name} returns None: replace `return None` with your code."), None
        return failed(f"{name} returned None on {description}."), None
    tensor = as_tensor(result)
    if tensor is None:
        return failed(f"{name} did not return a number or a tensor on {description}."), None
    return None, tensor


def one_number(function, tensor: torch.Tensor, description: str, what: str, hint: str):
    """``(verdict, value)``: the answer as one float, or the verdict that it is not one number
    (``what`` names the quantity, e.g. "the loss"; ``hint`` says how to get one number)."""
    if tensor.numel() != 1:
        return failed(
            f"on {description} {name_of(function)} returned shape {shape(tensor)}; "
            f"{what} is one number.",
            hint,
        ), None
    return None, float(tensor.reshape(()))


def likely_mistake(candidates, result, otherwise: str, same=matches) -> str:
    """The hint for ``result``: that of the first likely mistake ``(make_candidate, hint)`` in
    ``candidates`` that gives the same answer (``same(make_candidate, result)``, default
    :func:`matches`), else ``otherwise``."""
    for make_candidate, hint in candidates:
        if same(make_candidate, result):
            return hint
    return otherwise
