"""Drawing Glyphs: a character rendered in a font, then distorted like a hand drawing.

1. **Render** (:func:`render_character`): the character is rasterised by
   FreeType in one of the fonts that has it, cropped to its ink, scaled to fit
   a box of ``GLYPH_BOX`` of a ``CANVAS x CANVAS`` (64 x 64) canvas and centred.
2. **Distort** (:func:`distort`), batched in torch, one random draw per drawing:

   * an *affine* map: rotation, shear, scale (with a change of aspect ratio)
     and shift, as ``torch.nn.functional.affine_grid``;
   * an *elastic* distortion: a smooth random displacement field (coarse
     Gaussian noise upsampled bicubically) added to the sampling grid, which
     bends strokes the way an unsteady hand does; both are applied by a single
     ``grid_sample``;
   * a *pen width*: each font has its own stroke thickness; we estimate it
     and dilate (max-pool) or erode (min-pool) the drawing towards a random
     target width, so all drawings look drawn with similar pens.

3. **Downsample** to ``image_size`` (28 by default) with antialiasing
   (:func:`fewshot_utils.data.glyphs.draw_images`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ft2font import FT2Font

try:  # matplotlib >= 3.10
    from matplotlib.ft2font import LoadFlags

    NO_HINTING = LoadFlags.NO_HINTING
except ImportError:  # older matplotlib: an int flag
    from matplotlib.ft2font import LOAD_NO_HINTING as NO_HINTING

CANVAS = 64
"""Side in pixels of the canvas glyphs are rendered and distorted on, before downsampling."""
GLYPH_BOX = 0.66
"""Fraction of the canvas the larger side of a rendered glyph fills (margin for distortions)."""

FONT_FOLDER = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneral.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
    "cmmi10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)
"""The fonts drawings are rendered in, the first one having a character first.

Left out: ``LastResortHE`` (draws a placeholder box for every code point), the
``Display`` fonts (a few dozen glyphs), ``STIXNonUni`` / ``STIXSiz*`` (private
code points and big delimiters), ``cmsy10`` / ``cmex10`` (symbols at letter
code points).
"""

ASCII_ONLY_FONTS = frozenset(name for name in FONT_FILES if name.startswith("cm"))
"""Computer Modern fonts use a TeX encoding: only their ASCII letters are where Unicode says."""

# --------------------------------------------------------------------------- fonts and rendering


@functools.cache
def _font(name: str) -> FT2Font:
    return FT2Font(str(FONT_FOLDER / name))


def installed_fonts() -> list[str]:
    """The fonts of :data:`FONT_FILES` installed here, as ``"name:bytes"`` (for the cache)."""
    return [
        f"{name}:{(FONT_FOLDER / name).stat().st_size}"
        for name in FONT_FILES
        if (FONT_FOLDER / name).is_file()
    ]


def fonts_with_glyph(char: str) -> tuple[str, ...]:
    """The installed fonts of :data:`FONT_FILES` that have a glyph for ``char``."""
    code = ord(char)
    found = []
    for name in FONT_FILES:
        if name in ASCII_ONLY_FONTS and not (char.isascii() and char.isalnum()):
            continue
        if not (FONT_FOLDER / name).is_file():
            continue
        if _font(name).get_char_index(code) != 0:
            found.append(name)
    return tuple(found)


def render_character(char: str, font: str | Path, size: int = CANVAS) -> torch.Tensor:
    """Render ``char`` in ``font``, centred and scaled to fill ``GLYPH_BOX`` of the canvas.

    ``font`` is a file name in :data:`FONT_FOLDER` or a path. Returns
    ``float32 [size, size]`` ink in ``[0, 1]`` (all zeros if the glyph is empty).
    """
    face = _font(str(font))
    face.set_size(48, 144)  # 48 pt at 144 dpi: an em of 96 pixels, finer than the canvas
    face.set_text(char, flags=NO_HINTING)
    face.draw_glyphs_to_bitmap(antialiased=True)
    bitmap = np.asarray(face.get_image())
    rows, cols = np.nonzero(bitmap)
    canvas = torch.zeros(size, size)
    if len(rows) == 0:
        return canvas
    ink = torch.from_numpy(
        bitmap[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32) / 255
    )
    height, width = ink.shape
    scale = GLYPH_BOX * size / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    ink = F.interpolate(
        ink[None, None], size=(new_height, new_width), mode="bilinear", antialias=True
    )[0, 0]
    top, left = (size - new_height) // 2, (size - new_width) // 2
    canvas[top : top + new_height, left : left + new_width] = ink.clamp(0, 1)
    return canvas


# --------------------------------------------------------------------------- the distortions


def dilate(images: torch.Tensor) -> torch.Tensor:
    """Grey-scale dilation by one pixel: the maximum over each 3 x 3 neighbourhood.

    ``images``: ``[B, H, W]``, float or bool. The same as
    ``F.max_pool2d(images, 3, stride=1, padding=1)`` but done as a maximum of
    shifted copies, row then column, which is much faster on a CPU.
    """
    padded = F.pad(images, (1, 1, 1, 1))
    rows = torch.maximum(torch.maximum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])
    return torch.maximum(torch.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def erode(images: torch.Tensor) -> torch.Tensor:
    """Grey-scale erosion by one pixel: the minimum over each 3 x 3 neighbourhood."""
    return ~dilate(~images) if images.dtype == torch.bool else -dilate(-images)


def stroke_width(ink: torch.Tensor) -> torch.Tensor:
    """Estimated stroke width in pixels of glyphs ``[B, H, W]`` -> ``float32 [B]``.

    A stroke of width ``w`` and length ``L`` has area ``w L``; eroding it by one
    pixel on each side removes ``2 L``: so ``w = 2 area / (area - eroded area)``.
    """
    mask = ink > 0.5
    area = mask.sum(dim=(1, 2)).float()
    eroded_area = erode(mask).sum(dim=(1, 2)).float()
    return 2 * area / (area - eroded_area).clamp(min=1)


def safe_thinning(ink: torch.Tensor, max_steps: int, keep: float = 0.9) -> torch.Tensor:
    """How many one-pixel erosions each glyph survives, ``[B, H, W]`` -> ``int64 [B]``.

    Eroding ``s`` times and dilating back ``s`` times (an *opening*) removes
    exactly the parts thinner than ``2 s + 1`` pixels. A glyph survives ``s``
    erosions if its opening keeps a fraction ``keep`` of its ink: so the thick
    strokes of a bold font may be thinned, but not the hairlines of a serif font.
    """
    mask = ink > 0.5
    area = mask.sum(dim=(1, 2)).clamp(min=1)
    survived = torch.zeros(len(ink), dtype=torch.long)
    eroded = mask
    for step in range(1, max_steps + 1):
        eroded = erode(eroded)
        opened = eroded
        for _ in range(step):
            opened = dilate(opened)
        survives = (opened & mask).sum(dim=(1, 2)) >= keep * area
        survived += survives & (survived == step - 1)
    return survived


def change_thickness(ink: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Dilate (``steps > 0``) or erode (``steps < 0``) each image ``|steps|`` times.

    ``ink``: ``float32 [B, H, W]``; ``steps``: ``int64 [B]``. Each dilation
    thickens strokes by one pixel on each side, each erosion thins them.
    """
    out = ink.clone()
    for step in steps.unique().tolist():
        chosen = steps == step
        images = ink[chosen]
        for _ in range(abs(step)):
            images = dilate(images) if step > 0 else erode(images)
        out[chosen] = images
    return out


@dataclass
class Distortion:
    """Random distortion parameters of ``B`` drawings (see :func:`sample_distortions`)."""

    rotation: torch.Tensor  # [B] radians
    shear: torch.Tensor  # [B]
    scale: torch.Tensor  # [B, 2] (x, y)
    shift: torch.Tensor  # [B, 2] (x, y), in units of half the canvas
    displacement: torch.Tensor  # [B, 2, G, G] coarse elastic displacement, same units
    pen_width: torch.Tensor  # [B] target stroke width in canvas pixels


def sample_distortions(count: int, generator: torch.Generator) -> Distortion:
    """Draw the random distortions of ``count`` drawings from ``generator``."""

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    size = uniform(0.85, 1.10, count)
    aspect = torch.exp(uniform(-0.15, 0.15, count))
    return Distortion(
        rotation=torch.deg2rad(uniform(-12.0, 12.0, count)),
        shear=uniform(-0.25, 0.25, count),
        scale=torch.stack([size * aspect, size / aspect], dim=1),
        shift=uniform(-0.07, 0.07, count, 2),
        displacement=0.08 * torch.randn(count, 2, 4, 4, generator=generator),
        pen_width=uniform(3.5, 6.5, count),
    )


def distort(glyphs: torch.Tensor, distortion: Distortion) -> torch.Tensor:
    """Apply random affine, elastic and pen-width distortions to glyphs.

    ``glyphs``: ``float32 [B, H, W]`` ink in ``[0, 1]`` (from :func:`render_character`).
    Returns ``float32 [B, H, W]`` in ``[0, 1]``.
    """
    count, height, width = glyphs.shape
    d = distortion
    # Forward map (glyph -> drawing): x' = R(rotation) Shear diag(scale) x + shift.
    cos, sin = torch.cos(d.rotation), torch.sin(d.rotation)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shear = torch.eye(2).repeat(count, 1, 1)
    shear[:, 0, 1] = d.shear
    forward = rotation @ shear @ torch.diag_embed(d.scale)
    # affine_grid wants the inverse: for each output pixel, where to read in the glyph.
    inverse = torch.linalg.inv(forward)
    theta = torch.cat([inverse, -(inverse @ d.shift[:, :, None])], dim=2)
    grid = F.affine_grid(theta, (count, 1, height, width), align_corners=False)
    # Elastic: a smooth displacement field, coarse noise upsampled to every pixel.
    field = F.interpolate(d.displacement, size=(height, width), mode="bicubic", align_corners=True)
    grid = grid + field.permute(0, 2, 3, 1)
    drawings = F.grid_sample(
        glyphs[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    drawings = drawings[:, 0]
    # Pen width: thicken or thin each drawing towards its target stroke width,
    # thinning no further than its thinnest strokes allow.
    steps = torch.round((d.pen_width - stroke_width(drawings)) / 2).long().clamp(-4, 3)
    steps = torch.maximum(steps, -safe_thinning(drawings, max_steps=4))
    return change_thickness(drawings, steps).clamp(0, 1)


def concatenate_distortions(distortions: list[Distortion]) -> Distortion:
    """One :class:`Distortion` for all drawings of several (concatenated along ``B``)."""
    fields = [field.name for field in dataclasses.fields(Distortion)]
    return Distortion(
        **{name: torch.cat([getattr(d, name) for d in distortions]) for name in fields}
    )
