"""Keeping every finished epoch of a pretraining, and resuming an interrupted one.

The shipped recipe pretrains for up to an hour on a laptop; a closed lid, a restarted
kernel or Ctrl-C must not cost more than the epoch that was running. So
:func:`~fewshot_utils.training.loop.train` can write an *epoch checkpoint* after every
epoch, atomically (:func:`fewshot_utils.storage.save_atomically`), beside the final
checkpoint: ``conv4.pt`` keeps its epochs in ``conv4.last-epoch.pt``.

An epoch checkpoint is an ordinary course checkpoint (``load_backbone`` reads it: the
backbone so far) plus what the loop needs to go on exactly where it stopped:

* the whole model (backbone *and* head) and AdamW's moments,
* the one-cycle schedule's position,
* the run's random generator and torch's global one,
* the finished epochs and their history rows,
* the recipe, which a resumed run must repeat.

Resuming restores all of them and runs the remaining epochs, so on the same machine,
with the same number of threads, the final weights equal those of a run that was never
interrupted, to the last bit (``tests/test_resume.py`` kills a real run and checks it).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from fewshot_utils.models.checkpoints import KIND, save_checkpoint
from fewshot_utils.storage import load_tensors


def epoch_checkpoint_path(final: str | os.PathLike) -> Path:
    """Where the epochs of the run that writes ``final`` are kept:
    ``checkpoints/conv4.pt`` -> ``checkpoints/conv4.last-epoch.pt``."""
    final = Path(final)
    return final.with_name(f"{final.stem}.last-epoch{final.suffix or '.pt'}")


@dataclass
class Resumed:
    """Where an interrupted run stopped: its ``epoch`` (finished epochs) and ``history``."""

    epoch: int
    history: list[dict]


@dataclass
class EpochCheckpoints:
    """The epoch checkpoint at ``path`` that :func:`~fewshot_utils.training.loop.train`
    writes after every epoch and, with ``resume``, starts from."""

    path: Path
    resume: bool = False

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def save(
        self,
        model: nn.Module,
        preprocessing,
        recipe,
        history: list[dict],
        optimiser: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        generator: torch.Generator,
    ) -> Path:
        """Write the state after epoch ``len(history)``, whole or not at all."""
        head = getattr(model, "head", None)
        meta = {"config": asdict(recipe), "epochs_done": len(history)}
        path = save_checkpoint(
            self.path,
            model.backbone,
            preprocessing,
            history,
            meta,
            head if isinstance(head, nn.Linear) else None,
            training_state={
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": len(history),
            },
        )
        return path

    def restore(
        self,
        model: nn.Module,
        recipe,
        optimiser: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        generator: torch.Generator,
    ) -> Resumed:
        """Put the saved state back into ``model``, ``optimiser``, ``schedule`` and
        ``generator``; return where the run stopped.

        Raises ``FileNotFoundError`` when there is nothing to resume and ``ValueError``
        when the saved run used another recipe or model (a resumed run must repeat the
        interrupted one's settings, or its weights would be neither run's)."""
        state = load_tensors(
            self.path,
            KIND,
            required=("training_state", "meta", "history"),
            hint="there is no interrupted run to resume: start without --resume (resume=False)",
        )
        saved = state["meta"].get("config", {})
        asked = asdict(recipe)
        differ = [
            f"{name}={saved.get(name)!r} (now {value!r})"
            for name, value in asked.items()
            if saved.get(name) != value
        ]
        if differ:
            raise ValueError(
                f"{self.path} was made with other settings: {', '.join(differ)}; resume with "
                "the interrupted run's settings, or delete the file to start again"
            )
        resume = state["training_state"]
        try:
            model.load_state_dict(resume["model"])
        except RuntimeError:
            raise ValueError(
                f"{self.path} holds another model (another dataset's classes or another way "
                "of pretraining): resume with the interrupted run's dataset and command, or "
                "delete the file to start again"
            ) from None
        optimiser.load_state_dict(resume["optimiser"])
        schedule.load_state_dict(resume["schedule"])
        generator.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        return Resumed(epoch=int(resume["epoch"]), history=list(state["history"]))

    def finished(self) -> None:
        """The final checkpoint is written: the epoch checkpoint is no longer needed."""
        self.path.unlink(missing_ok=True)


def epoch_checkpoints(
    path: str | os.PathLike | None, resume: bool = False
) -> EpochCheckpoints | None:
    """The ``epoch_checkpoint=``, ``resume=`` arguments of the pretraining functions as
    :class:`EpochCheckpoints` (``None``: no epoch checkpoints)."""
    if path is None:
        if resume:
            raise ValueError(
                "resume=True needs epoch_checkpoint=PATH: the file the interrupted run kept "
                "its epochs in"
            )
        return None
    return EpochCheckpoints(Path(path), resume=bool(resume))


def epochs_done(path: str | os.PathLike) -> int | None:
    """How many epochs the epoch checkpoint at ``path`` holds (``None``: no such file)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = load_tensors(path, KIND, required=("training_state",))
    except ValueError:
        return None
    return int(state["training_state"]["epoch"])
