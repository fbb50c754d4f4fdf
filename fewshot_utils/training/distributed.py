"""Pretraining on several processes: PyTorch's DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node W -m fewshot_utils pretrain ...`` starts ``W`` copies of the
command; :func:`start` joins them into one process group (``nccl`` on CUDA GPUs, one GPU
per process; ``gloo`` on CPUs), and the one training loop
(:func:`fewshot_utils.training.loop.train`) then runs the same pretraining as one
process, split across them:

* **Batches.** Every process draws the same epoch order and the same augmentation from
  the same seeded CPU generator, so all agree on every global batch of ``B`` images.
  Process ``r`` of ``W`` takes the contiguous part :func:`shard` of each batch, about
  ``B/W`` images (the rule of ``DistributedSampler``, applied to each batch instead of to
  the epoch: the union of the parts is the batch one process would see).
* **Gradients.** The model is wrapped in ``DistributedDataParallel``, which averages the
  parameters' gradients over the processes after every backward pass. Process ``r``'s
  loss is its part's mean loss times ``W · n_r / B`` (``n_r`` images of the batch's ``B``),
  so the average is exactly the gradient of the whole batch's mean loss: the global batch
  is ``B`` (``--batch-size``) and the learning rate is the single-process one, whatever W.
* **BatchNorm.** Statistics are those of the whole global batch, as in one process:
  ``torch.nn.SyncBatchNorm`` on CUDA; on the CPU, where ``nn.SyncBatchNorm`` (torch 2.x)
  refuses tensors that are not on a GPU ("SyncBatchNorm expected input tensor to be on
  GPU"), :class:`GlobalBatchNorm2d`, which all-reduces the per-channel sums with
  ``torch.distributed`` the same way. After training the layers are plain
  ``BatchNorm2d`` again (same weights and running statistics), so the checkpoint is the
  ordinary Conv4 one.
* **Output.** Only rank 0 shows progress, measures validation accuracy, runs
  ``after_epoch`` and writes the checkpoint; the losses and accuracies of the history are
  summed over all processes.

**How close to one process.** The maths is the same; the floating-point sums are added
in another order, so the weights agree to rounding, not to the bit. On the CPU there is
a second difference: one process uses ``BatchNorm2d``, whose CPU backward on
channels-last tensors (as pretraining stores them) loses precision on channels whose mean
is large against their spread, while :class:`GlobalBatchNorm2d` sums centred values in
float64. A single process given :class:`GlobalBatchNorm2d` agrees with several to about
1e-5; the ordinary single-process run less closely (``tests/test_distributed.py`` gives
the figures). On GPUs, ``nn.SyncBatchNorm`` and ``BatchNorm2d`` use cuDNN/CUDA kernels
of their own.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Processes:
    """This process's place among ``world`` processes: ``rank`` in ``0 .. world - 1``."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints, validates and writes files."""
        return self.rank == 0


def processes() -> Processes:
    """The current process group's rank and size (``Processes(0, 1)`` without one)."""
    if dist.is_available() and dist.is_initialized():
        return Processes(dist.get_rank(), dist.get_world_size())
    return Processes()


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> tuple[torch.device, Processes]:
    """Join the process group that ``torchrun`` set up (its ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` variables); return this process's
    device and place.

    ``device``: the device type asked for; on CUDA each process takes GPU ``LOCAL_RANK``
    and the ``nccl`` backend, on the CPU the ``gloo`` backend. Raises ``ValueError`` for MPS
    (``torch.distributed`` has no backend for it) and when there are fewer GPUs on this
    node than processes.
    """
    if not launched_by_torchrun():
        return device, Processes()
    if device.type == "mps":
        raise ValueError(
            "pretraining on several processes does not work on Apple MPS (torch.distributed "
            "has no backend for it): use --device cpu, or run one process"
        )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"process {local_rank} of this node needs GPU cuda:{local_rank}, but there are "
                f"only {torch.cuda.device_count()}: give torchrun --nproc_per_node at most "
                f"{torch.cuda.device_count()}"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, processes()


def backend() -> str:
    """The process group's backend (``"gloo"``, ``"nccl"``), or ``"none"`` without one."""
    return dist.get_backend() if dist.is_available() and dist.is_initialized() else "none"


def finish(wait: bool = True) -> None:
    """Leave the process group (at the end of a command), if there is one; ``wait`` for
    the others first (not after an error, so that theirs ends too instead of hanging)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first(place: Processes):
    """Rank 0 runs the block first (e.g. builds a dataset's cache), then the others do."""
    if place.world > 1 and not place.main:
        dist.barrier()
    yield
    if place.world > 1 and place.main:
        dist.barrier()


def shard(size: int, place: Processes) -> slice:
    """The part of a batch of ``size`` items that process ``place.rank`` computes:
    ``[⌊r·size/W⌋, ⌊(r+1)·size/W⌋)``. The parts are contiguous, disjoint, differ in size by
    at most one, and together are the whole batch; one may be empty when ``size < W``."""
    return slice(place.rank * size // place.world, (place.rank + 1) * size // place.world)


# ----------------------------------------------------------------------------
# BatchNorm over the global batch
# ----------------------------------------------------------------------------


class _GlobalBatchNorm(torch.autograd.Function):
    """``y = (x - μ) / √(σ² + ε) · γ + β`` with ``μ, σ²`` over every process's images.

    With ``n`` values per channel in all processes: ``μ = Σx / n``, ``σ² = Σ(x - μ)² / n``
    (two all-reduces of ``C`` sums, in float64; none in a single process). Backward, with
    ``x̂ = (x - μ) / √(σ² + ε)``:
    ``∂L/∂x = γ / √(σ² + ε) · (g - Σg / n - x̂ · Σ(g x̂) / n)``, the sums again over all
    processes; ``∂L/∂γ = Σ g x̂`` and ``∂L/∂β = Σ g`` over this process's images only, since
    ``DistributedDataParallel`` then averages them (as it does for ``nn.SyncBatchNorm``).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
        count = x.new_tensor([x.numel() // x.shape[1]], dtype=torch.float64)
        sums = torch.cat([x.sum(dims, dtype=torch.float64), count])
        _all_reduce(sums)
        n = float(sums[-1])
        mean = (sums[:-1] / n).to(x.dtype)
        centred = x - mean.view(shape)
        squares = (centred * centred).sum(dims, dtype=torch.float64)
        _all_reduce(squares)
        variance = (squares / n).to(x.dtype)
        invstd = torch.rsqrt(variance + eps)
        normalised = centred * invstd.view(shape)
        ctx.save_for_backward(normalised, invstd, weight)
        ctx.n = n
        unbiased = variance * (n / max(n - 1.0, 1.0))
        ctx.mark_non_differentiable(mean, unbiased)
        return normalised * weight.view(shape) + bias.view(shape), mean, unbiased

    @staticmethod
    def backward(ctx, grad, _mean, _variance):
        normalised, invstd, weight = ctx.saved_tensors
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
        grad_bias = grad.sum(dims)
        grad_weight = (grad * normalised).sum(dims)
        sums = torch.cat([grad_bias, grad_weight])
        _all_reduce(sums)
        total_grad, total_grad_normalised = (sums / ctx.n).view(2, -1)
        grad_x = (weight * invstd).view(shape) * (
            grad - total_grad.view(shape) - normalised * total_grad_normalised.view(shape)
        )
        return grad_x, grad_weight, grad_bias, None


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the global batch over all
    processes of the group (see :class:`_GlobalBatchNorm`): ``nn.SyncBatchNorm``'s job, on
    any device. In eval mode it is ``BatchNorm2d``; in one process it computes what
    ``BatchNorm2d`` computes, with the arithmetic above (centred sums in float64).

    Running statistics: ``r ← (1 - m) r + m μ`` and ``v ← (1 - m) v + m σ² n / (n - 1)``,
    momentum ``m`` (as ``BatchNorm2d``); identical on every process.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        y, mean, unbiased = _GlobalBatchNorm.apply(x, self.weight, self.bias, self.eps)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum
                if momentum is None:  # cumulative average, as BatchNorm2d
                    momentum = 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        return y


def _all_reduce(tensor: torch.Tensor) -> None:
    """Sum ``tensor`` over the processes, in place (nothing to do in one process)."""
    if processes().world > 1:
        dist.all_reduce(tensor)


def _swap_batchnorm(module: nn.Module, make) -> nn.Module:
    """Replace every ``BatchNorm2d`` below ``module`` (in place) by ``make(old)``."""
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            setattr(module, name, make(child))
        else:
            _swap_batchnorm(child, make)
    return module


def _moved(old: nn.modules.batchnorm._BatchNorm, kind: type) -> nn.Module:
    """A BatchNorm of ``kind`` that shares ``old``'s parameters and running statistics."""
    new = kind(old.num_features, old.eps, old.momentum, old.affine, old.track_running_stats)
    new.weight, new.bias = old.weight, old.bias
    new.running_mean, new.running_var = old.running_mean, old.running_var
    new.num_batches_tracked = old.num_batches_tracked
    new.train(old.training)
    return new


def global_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Make ``model``'s BatchNorm layers use global-batch statistics (in place):
    ``nn.SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm2d` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _swap_batchnorm(model, lambda old: _moved(old, GlobalBatchNorm2d))


def plain_batchnorm(model: nn.Module) -> nn.Module:
    """Undo :func:`global_batchnorm` (in place): plain ``BatchNorm2d`` with the same weights
    and running statistics."""
    return _swap_batchnorm(model, lambda old: _moved(old, nn.BatchNorm2d))


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (on ``device``), after
    :func:`global_batchnorm`. Its construction broadcasts rank 0's weights to all."""
    model = global_batchnorm(model, device)
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def sum_over_processes(values: list[float], device: torch.device) -> list[float]:
    """Each number summed over all processes (one all-reduce); unchanged in one process."""
    if processes().world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def from_main(value, device: torch.device | None = None):
    """Rank 0's ``value`` (any picklable object) on every process."""
    if processes().world == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=device)
    return box[0]
