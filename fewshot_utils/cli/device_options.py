"""``--device``, shared by ``pretrain``, ``evaluate``, ``benchmark`` and ``predict``."""

from __future__ import annotations

import argparse

from fewshot_utils.devices import DEVICES


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device {auto,cpu,cuda,mps}`` (default ``auto``)."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the tensors live: auto (the default) takes a CUDA GPU, else Apple MPS, "
        "else the CPU, and says which",
    )


def device_from_arguments(args: argparse.Namespace, announce: bool = True):
    """The ``--device`` as a ``torch.device``, announced in one line
    (:func:`fewshot_utils.devices.choose_device`)."""
    from fewshot_utils.devices import choose_device

    return choose_device(args.device, announce=announce)
