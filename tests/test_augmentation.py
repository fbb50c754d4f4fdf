"""Augmentation: which way a random warp turns, zooms and shifts a drawing."""

import math

import pytest
import torch

from fewshot_utils.training.augmentation import affine_theta, random_affine, warp

SIZE = 29  # odd, so the image has a centre pixel


def dot(row: int, col: int) -> torch.Tensor:
    """``[1, 1, SIZE, SIZE]``: a bright 3x3 dot centred at (row, col) on a dark background."""
    image = torch.zeros(1, 1, SIZE, SIZE)
    image[0, 0, row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return image


def centroid(image: torch.Tensor) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass."""
    ink = image[0, 0].clamp_min(0)
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    total = ink.sum()
    return float((rows * ink).sum() / total), float((cols * ink).sum() / total)


def one(value: float) -> torch.Tensor:
    return torch.tensor([value])


def test_a_positive_angle_turns_the_drawing_counter_clockwise_on_screen():
    centre = SIZE // 2
    right_of_centre = dot(centre, centre + 8)
    theta = affine_theta(one(math.radians(90)), one(1.0), one(0.0), one(0.0), one(0.0))
    row, col = centroid(warp(right_of_centre, theta))
    # Counter-clockwise by 90 degrees on screen (rows grow downwards): right -> above.
    assert row == pytest.approx(centre - 8, abs=0.6)
    assert col == pytest.approx(centre, abs=0.6)


def test_a_zoom_above_one_enlarges_and_a_shift_moves_right_and_down():
    centre = SIZE // 2
    theta = affine_theta(one(0.0), one(1.5), one(0.0), one(0.0), one(0.0))
    row, col = centroid(warp(dot(centre, centre + 6), theta))
    assert col == pytest.approx(centre + 9, abs=0.6) and row == pytest.approx(centre, abs=0.6)
    pixels = 4
    shift = 2 * pixels / SIZE  # affine_grid's units: the image is 2 wide
    theta = affine_theta(one(0.0), one(1.0), one(0.0), one(-shift), one(-shift))
    row, col = centroid(warp(dot(centre, centre), theta))
    assert row == pytest.approx(centre + pixels, abs=0.6)
    assert col == pytest.approx(centre + pixels, abs=0.6)


def test_random_affine_turns_each_drawing_by_the_angle_it_draws():
    """The angle is drawn first, U(-rotation, rotation); the drawing turns that way."""
    centre = SIZE // 2
    images = dot(centre, centre + 8).expand(64, 1, SIZE, SIZE).clone()
    generator = torch.Generator().manual_seed(5)
    angles = (torch.rand(64, generator=generator.clone_state()) * 2 - 1) * math.radians(60)
    warped = random_affine(images, generator, rotation=60, scale=0, shift=0, shear=0)
    for image, angle in zip(warped, angles, strict=True):
        row, col = centroid(image.unsqueeze(0))
        # Counter-clockwise on screen by `angle`: the row goes up by 8 sin(angle).
        assert row == pytest.approx(centre - 8 * math.sin(angle), abs=0.8)
        assert col == pytest.approx(centre + 8 * math.cos(angle), abs=0.8)
