"""Make ``data/example_images/``: symbols drawn as if on paper, then photographed or scanned.

    python benchmarks/make_example_images.py [--out data/example_images] [--seed 0]

Notebook 08 classifies "your own images" with the backbone pretrained on
Omniglot. Real photos of drawings cannot be shipped with the course, so this
script makes look-alikes, deterministically from a seed:

1. **Draw**: each character is rendered in a font that has it and distorted by
   Glyphs' random affine, elastic and pen-width distortions
   (:func:`fewshot_utils.data.glyphs.draw_class`, :func:`fewshot_utils.data.glyph_drawing.distort`),
   so that no two drawings of a symbol are the same, as with handwriting;
2. **Paper**: the 64 x 64 drawing is enlarged (bicubic, so the strokes get soft
   edges) to a photo of 100-130 pixels a side, not always square; the paper is
   light and slightly tinted (cream, grey-blue or greenish), lit a little unevenly
   (a brightness gradient in a random direction and a darker rim), the ink dark
   blue-black or graphite grey and not perfectly opaque;
3. **Camera**: Gaussian sensor noise, then JPEG compression (quality 80).

The result: ``support/<class>/1.jpg ..`` (``SHOTS`` drawings per class) and
``queries/<class>.jpg`` (one more drawing of each class, named after its true
class so the reader can check the prediction), about 2 KB per image.

The paper is kept light and the light fairly even, like a scan or a photo taken
in good light. Darker, unevenly lit paper stays grey after inversion, unlike
Omniglot's clean black backgrounds, and the shipped backbone then got 1-2 of the
4 queries wrong (see notebook 08).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fewshot_utils.data.glyph_drawing import distort, fonts_with_glyph
from fewshot_utils.data.glyphs import GlyphClass, draw_class

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "example_images"

#: The symbols: folder name -> character (four scripts, four rather different shapes).
SYMBOLS = {
    "cyrillic_zhe": "Ж",
    "georgian_ghan": "ღ",
    "greek_lambda": "λ",
    "hebrew_shin": "ש",
}
SHOTS = 3
PAPERS = ((250, 245, 232), (242, 246, 250), (245, 250, 238), (252, 250, 245))
INKS = ((28, 32, 64), (54, 54, 58), (20, 24, 30))
JPEG_QUALITY = 80


def drawings(char: str, count: int, seed: int) -> torch.Tensor:
    """``count`` distorted drawings of ``char``: ink ``float32 [count, 64, 64]`` in ``[0, 1]``."""
    glyph_class = GlyphClass("example", char, fonts_with_glyph(char))
    glyphs, distortion = draw_class(glyph_class, seed, count)
    return distort(glyphs, distortion)


def photograph(ink: torch.Tensor, rng: np.random.Generator) -> Image.Image:
    """One drawing's ink ``[64, 64]`` -> an RGB "photo" of it on paper (see the module doc)."""
    width, height = (int(v) for v in rng.integers(100, 131, size=2))
    side = max(width, height)
    big = F.interpolate(ink[None, None], size=(side, side), mode="bicubic", align_corners=False)
    big = big[0, 0].clamp(0, 1).numpy()
    top, left = (side - height) // 2, (side - width) // 2
    alpha = big[top : top + height, left : left + width] * rng.uniform(0.82, 0.95)

    paper = np.array(PAPERS[rng.integers(len(PAPERS))], dtype=np.float64)
    ink_colour = np.array(INKS[rng.integers(len(INKS))], dtype=np.float64)
    rows, cols = np.mgrid[0:height, 0:width]
    y, x = rows / (height - 1) - 0.5, cols / (width - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 1.0 - rng.uniform(0.02, 0.06) * (0.5 + x * np.cos(angle) + y * np.sin(angle))
    rim = 1.0 - rng.uniform(0.01, 0.04) * (2 * np.hypot(x, y)) ** 2
    light = (gradient * rim)[..., None]

    image = paper * light * (1 - alpha[..., None]) + ink_colour * alpha[..., None]
    image += rng.normal(0.0, 4.0, size=image.shape)
    return Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8), mode="RGB")


def make_example_images(out: Path = DEFAULT_OUT, seed: int = 0) -> list[Path]:
    """Write the support folder and the queries under ``out``; return the image paths."""
    rng = np.random.default_rng(seed)
    written = []
    for folder in ("support", "queries"):
        shutil.rmtree(out / folder, ignore_errors=True)
    for name, char in SYMBOLS.items():
        inks = drawings(char, SHOTS + 1, seed)
        class_folder = out / "support" / name
        class_folder.mkdir(parents=True, exist_ok=True)
        targets = [class_folder / f"{shot + 1}.jpg" for shot in range(SHOTS)]
        targets.append(out / "queries" / f"{name}.jpg")
        targets[-1].parent.mkdir(parents=True, exist_ok=True)
        for ink, target in zip(inks, targets, strict=True):
            photograph(ink, rng).save(target, quality=JPEG_QUALITY, optimize=True)
            written.append(target)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    written = make_example_images(args.out, args.seed)
    total = sum(path.stat().st_size for path in written)
    print(f"wrote {len(written)} images under {args.out} ({total / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
