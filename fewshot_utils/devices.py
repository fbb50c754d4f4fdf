"""Where the tensors live: the CPU, a CUDA GPU or Apple's MPS, chosen once.

The same code runs on every device; only where the backbone sits changes:

* :func:`choose_device`: ``"auto"`` takes CUDA if PyTorch sees a GPU, else MPS (Apple
  silicon), else the CPU, and prints one line saying which; ``"cpu"``, ``"cuda"``,
  ``"cuda:1"``, ``"mps"`` are taken as asked (an error says what to do when the device
  is missing);
* :func:`default_device`: the device the functions use when none is given and they have
  nothing to follow (pretraining, loading a backbone). It is the CPU unless
  :func:`set_default_device` (``fewshot_utils.notebook.setup`` does) chose another.

The rules everywhere else: a function that receives a backbone or features computes
where they are (its ``device=`` argument moves them first); features, episodes' gathered
features, classifiers and their optimiser state follow the backbone; random numbers are
drawn on the CPU generator and then moved, so a seed gives the same draws on every
device; checkpoints are written from CPU copies and read with ``map_location="cpu"``,
then moved, so a file made on a GPU loads on a laptop and the reverse.
"""

from __future__ import annotations

import torch

#: What ``--device`` accepts.
DEVICES = ("auto", "cpu", "cuda", "mps")

_default: torch.device | None = None


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or ``None``) -> CUDA if available, else MPS, else the CPU; any other name
    -> that device. Prints nothing.

    Raises ``ValueError`` naming the device and what to do when it is not a device name or
    this machine does not have it (no CUDA GPU, no MPS, a GPU index beyond the count).
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {device!r}: use one of {', '.join(DEVICES)} (or e.g. 'cuda:1')"
        ) from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} was asked for, but PyTorch sees no CUDA GPU here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}): "
                "use --device auto or cpu, or install a CUDA build of PyTorch on a machine "
                "with an NVIDIA GPU"
            )
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} was asked for, but there are only "
                f"{torch.cuda.device_count()} CUDA GPU(s) (cuda:0 .. "
                f"cuda:{torch.cuda.device_count() - 1})"
            )
    if chosen.type == "mps" and not _mps_available():
        raise ValueError(
            f"device {device!r} was asked for, but Apple's MPS is not available here (it needs "
            "a Mac with Apple silicon and macOS 12.3 or newer): use --device auto or cpu"
        )
    return chosen


def describe_device(device: str | torch.device) -> str:
    """A device in words: ``"the CPU"``, ``"CUDA GPU 0 (NVIDIA H200)"``, ``"Apple MPS"``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA GPU {index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "Apple MPS"
    if device.type == "cpu":
        return "the CPU"
    return f"the {device} device"


def choose_device(
    device: str | torch.device | None = "auto", announce: bool = True
) -> torch.device:
    """:func:`resolve_device`, and (``announce``) one line saying which device and why.

    For ``"auto"`` the line says what was looked for, e.g. ``Device: the CPU (auto: no CUDA
    GPU or Apple MPS found)``.
    """
    chosen = resolve_device(device)
    if announce:
        why = ""
        if device is None or device == "auto":
            why = " (auto: no CUDA GPU or Apple MPS found)" if chosen.type == "cpu" else " (auto)"
        print(f"Device: {describe_device(chosen)}{why}")
    return chosen


def set_default_device(device: str | torch.device | None) -> torch.device | None:
    """Make ``device`` what :func:`default_device` returns (``None``: back to the CPU).

    Only this package reads it (it is not ``torch.set_default_device``, which would also
    move the CPU-side random numbers and index tensors).
    """
    global _default
    _default = None if device is None else torch.device(device)
    return _default


def default_device() -> torch.device:
    """The device :func:`set_default_device` chose, else the CPU."""
    return _default if _default is not None else torch.device("cpu")


def as_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` -> :func:`default_device`."""
    return default_device() if device is None else torch.device(device)


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a module's weights are (its first parameter or buffer); the CPU if it has none."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
