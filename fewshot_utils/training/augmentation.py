"""Data augmentation on whole in-memory batches: one random affine warp per image.

Omniglot has 20 drawings per character; pretraining sees each many times, so every
batch is warped a little (rotated, zoomed, sheared, shifted) to show the network new
drawings of the same characters. One ``affine_grid`` + ``grid_sample`` warps the whole
batch at once: no per-image PIL work, no DataLoader workers.

A stronger kind of augmentation changes the task itself: :func:`rotations_as_classes`
turns each character by 90, 180 and 270 degrees and calls each turn a *new* class
(Vinyals et al. 2016), so pretraining sees 4C classes and must tell a character from
its own rotations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affine_theta(
    angle: torch.Tensor,
    zoom: torch.Tensor,
    skew: torch.Tensor,
    shift_x: torch.Tensor,
    shift_y: torch.Tensor,
) -> torch.Tensor:
    """``theta [B, 2, 3]`` for ``affine_grid`` from per-image ``[B]`` parameters.

    ``angle`` in radians (positive: the drawing turns counter-clockwise on screen),
    ``zoom`` (above 1: the drawing grows), ``skew`` (shear), ``shift_x``, ``shift_y`` in
    ``affine_grid``'s normalised units (``2 · pixels / width``). ``affine_grid`` maps each
    output pixel ``p`` to the input point ``theta · p``, so ``theta`` is the *inverse* of
    the drawing's motion: ``R(angle) / zoom`` with a shear, in image coordinates (y down).
    """
    batch = angle.shape[0]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + skew * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + skew * sin
    theta[:, 0, 2] = shift_x
    theta[:, 1, 2] = shift_y
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp images ``float [B, 1, H, W]`` by ``theta [B, 2, 3]``; uncovered pixels get each
    image's background (its darkest value). An empty batch (``B = 0``: one process's part
    of a short last batch) comes back as it is."""
    if x.shape[0] == 0:
        return x
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    warped = F.grid_sample(x - background, grid, padding_mode="zeros", align_corners=False)
    return warped + background


def random_theta(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    rotation: float,
    scale: float,
    shift: float,
    shear: float,
) -> torch.Tensor:
    """``theta [batch, 2, 3]`` of ``batch`` random affine warps of ``height x width`` images.

    Rotation angle ``U(-rotation, rotation)`` degrees, zoom ``U(1-scale, 1+scale)``, shear
    ``U(-shear, shear)``, shift ``U(-shift, shift)`` pixels in x and y, drawn in that order
    from ``generator`` on the CPU (the same warps whatever device the images are on), then
    :func:`affine_theta`. ``theta`` stays on the CPU; :func:`warp` moves it to the images.
    The ranges are always given: the defaults are :func:`random_affine`'s and
    :class:`~fewshot_utils.training.loop.TrainingRecipe`'s.
    """

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(batch, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(rotation))
    zoom = 1 + uniform(scale)
    skew = uniform(shear)
    shift_x = uniform(2 * shift / width)
    shift_y = uniform(2 * shift / height)
    return affine_theta(angle, zoom, skew, shift_x, shift_y)


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    rotation: float = 10.0,
    scale: float = 0.1,
    shift: float = 2.0,
    shear: float = 0.1,
) -> torch.Tensor:
    """A different random affine warp of every image: ``float [B, 1, H, W] -> [B, 1, H, W]``,
    on the images' device: :func:`random_theta`, then :func:`warp`."""
    batch, _, height, width = x.shape
    theta = random_theta(batch, height, width, generator, rotation, scale, shift, shear)
    return warp(x, theta)


def rotations_as_classes(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each class turned by 0, 90, 180 and 270 degrees, each turn a class of its own.

    ``uint8 [I, H, W]``, ``int64 [I]`` (classes ``0 .. C-1``) -> ``uint8 [4I, H, W]``,
    ``int64 [4I]``: the drawings of class ``c`` turned counter-clockwise by ``k · 90``
    degrees are class ``c + k · C`` (``k = 0`` is the drawing as it is).
    """
    turned = [torch.rot90(images, k, dims=(1, 2)) for k in range(4)]
    return torch.cat(turned).contiguous(), torch.cat([labels + k * num_classes for k in range(4)])
