"""Glyphs: an offline stand-in for Omniglot, drawn from the fonts that ship with matplotlib.

Why
---
The course is about few-shot classification on Omniglot: 1,623 handwritten
characters from 50 alphabets, 20 drawings of each. Omniglot has to be
downloaded, and a workshop on a flaky network (or a test suite in CI) cannot
rely on that. **Glyphs** has the same structure and is made on the spot, with
no network, from the fonts every matplotlib installation carries (DejaVu Sans /
Serif / Mono and their bold and italic styles, STIX, Computer Modern):

* an **alphabet** is a Unicode script (Greek, Cyrillic, Armenian, Georgian,
  Hebrew, Arabic, N'Ko, Lao, Canadian syllabics, Tifinagh, ...), see
  :data:`ALPHABETS`;
* a **class** is one character of that script, e.g. ``"Greek/U+03BB λ"``;
* a **drawing** is the character rendered in a random font that has it, then
  distorted so that two drawings of one character differ the way two people's
  handwriting does.

Like Omniglot, the classes are split **by alphabet** into a ``background``
split (base classes, for pretraining) and an ``evaluation`` split (novel
classes, in alphabets never seen in pretraining), about 60 / 40 by classes
(Omniglot: 964 / 659). See :data:`EVALUATION_ALPHABETS`.

How a drawing is made: :mod:`fewshot_utils.data.glyph_drawing`.

Images are ``uint8 [I, image_size, image_size]``, strokes bright (255) on a
dark (0) background, like the course's (inverted) Omniglot. Everything is
deterministic for a seed: the drawings of a character depend only on the seed
and the character (not on which other classes are generated).

:func:`load_glyphs` caches both splits in ``root/glyphs/``; the cache is
rebuilt when :data:`GENERATOR_VERSION` or the installed fonts change.
Generating all of it takes seconds (the README gives the figure).
"""

from __future__ import annotations

import contextlib
import functools
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib import ft2font
from tqdm.auto import tqdm

from fewshot_utils.data.glyph_drawing import (
    Distortion,
    concatenate_distortions,
    distort,
    fonts_with_glyph,
    installed_fonts,
    render_character,
    sample_distortions,
)
from fewshot_utils.data.splits import SPLITS, FewShotSplit
from fewshot_utils.paths import data_root
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically

GENERATOR_VERSION = 1
"""Bump when a change to this module changes the images; old caches are then rebuilt."""

DRAWINGS_PER_CLASS = 20
IMAGES_PER_BATCH = 128
"""Drawings distorted together in one batch: bigger is barely faster and takes more memory."""

ALPHABETS: dict[str, tuple[tuple[int, int], ...]] = {
    # name: inclusive code point ranges. Only letters are kept (see `available_characters`).
    "Latin": ((0x0041, 0x005A), (0x0061, 0x007A)),
    "Latin (extended)": ((0x0180, 0x024F),),
    "Latin (medieval)": ((0x2C60, 0x2C7F), (0xA722, 0xA7FF)),
    "IPA (phonetic alphabet)": ((0x0250, 0x02AF),),
    "Greek": ((0x0391, 0x03A9), (0x03B1, 0x03C9), (0x03D0, 0x03E1)),
    "Coptic": ((0x03E2, 0x03EF), (0x2C80, 0x2CE4)),
    "Cyrillic": ((0x0410, 0x044F),),
    "Cyrillic (old)": ((0x0460, 0x0481), (0xA640, 0xA66D)),
    "Cyrillic (non-Slavic)": ((0x048A, 0x04FF), (0x0500, 0x052F)),
    "Armenian": ((0x0531, 0x0556), (0x0561, 0x0587)),
    "Hebrew": ((0x05D0, 0x05EA),),
    "Arabic": ((0x0620, 0x064A),),
    "Arabic (extended)": ((0x0671, 0x06D3), (0x06FA, 0x06FF)),
    "N'Ko": ((0x07CA, 0x07EA),),
    "Lao": ((0x0E81, 0x0EAE), (0x0EDC, 0x0EDF)),
    "Georgian (Mkhedruli)": ((0x10D0, 0x10FA),),
    "Georgian (Asomtavruli)": ((0x10A0, 0x10C5),),
    "Georgian (Nuskhuri)": ((0x2D00, 0x2D25),),
    "Canadian syllabics I": ((0x1401, 0x14BF),),
    "Canadian syllabics II": ((0x14C0, 0x167F),),
    "Ogham": ((0x1681, 0x169A),),
    "Tifinagh": ((0x2D30, 0x2D67),),
    "Lisu": ((0xA4D0, 0xA4F7),),
    "Old Italic": ((0x10300, 0x1031E),),
}
"""The alphabets of Glyphs: a Unicode script (or part of one) and its code point ranges."""

EVALUATION_ALPHABETS = frozenset(
    {
        "Cyrillic",
        "Cyrillic (old)",
        "Cyrillic (non-Slavic)",
        "Armenian",
        "Hebrew",
        "Arabic",
        "Arabic (extended)",
        "N'Ko",
        "Lao",
        "Georgian (Asomtavruli)",
        "Georgian (Nuskhuri)",
        "Tifinagh",
        "Lisu",
        "Old Italic",
    }
)
"""Alphabets of the ``evaluation`` split (novel classes); all others are ``background``."""

DUPLICATE_SIMILARITY = 0.95
"""Two characters whose reference renderings are this similar (cosine) are one class."""


@dataclass(frozen=True)
class GlyphClass:
    """One class of Glyphs: a character of an alphabet and the fonts that can draw it."""

    alphabet: str
    char: str
    fonts: tuple[str, ...]

    @property
    def name(self) -> str:
        """E.g. ``"Greek/U+03BB λ"``."""
        return f"{self.alphabet}/U+{ord(self.char):04X} {self.char}"

    @property
    def split(self) -> str:
        return "evaluation" if self.alphabet in EVALUATION_ALPHABETS else "background"


# --------------------------------------------------------------------------- the classes


DIALECT_VARIANTS = (
    "WEST-CREE", "Y-CREE", "N-CREE", "R-CREE", "MOOSE-CREE", "WOODS-CREE", "NASKAPI", "SAYISI",
    "SOUTH-SLAVEY", "ATHAPASCAN", "TLHO", "NUNAVUT", "NUNAVIK",
)  # fmt: skip
"""Canadian syllabics used by one dialect only, mostly a common one with an extra dot: left out."""


def _is_letter(char: str) -> bool:
    """A letter of its own: not a modifier, not an accented or compatibility form of another one,
    not a dialect variant of a Canadian syllabic."""
    category = unicodedata.category(char)
    name_words = unicodedata.name(char, "").split()
    return (
        category in ("Lu", "Ll", "Lt", "Lo")
        and not unicodedata.decomposition(char)
        and not any(word in DIALECT_VARIANTS for word in name_words)
    )


@functools.cache
def _all_classes() -> tuple[GlyphClass, ...]:
    """Every class of the full :data:`ALPHABETS` table, duplicates removed.

    A character is skipped if no font has it, it renders empty, or its
    reference rendering (first font having it, 24 x 24) is nearly identical to
    that of a character kept earlier in the table (Greek Alpha looks like
    Latin A, Latin o like O once scaled to the same size).
    """
    candidates, references = [], []
    for alphabet, ranges in ALPHABETS.items():
        for first, last in ranges:
            for code in range(first, last + 1):
                char = chr(code)
                if not _is_letter(char):
                    continue
                fonts = fonts_with_glyph(char)
                if not fonts:
                    continue
                reference = render_character(char, fonts[0], size=24)
                if reference.sum() < 1:
                    continue
                candidates.append(GlyphClass(alphabet, char, fonts))
                references.append(reference)
    # Blur a little so that a one-pixel shift does not hide a duplicate, then compare.
    stack = torch.stack(references)[:, None]
    stack = F.avg_pool2d(stack, kernel_size=3, stride=1, padding=1).flatten(1)
    stack = F.normalize(stack - stack.mean(dim=1, keepdim=True), dim=1)
    similarity = stack @ stack.T
    kept: list[int] = []
    for index in range(len(candidates)):
        if not kept or similarity[index, kept].max() < DUPLICATE_SIMILARITY:
            kept.append(index)
    return tuple(candidates[index] for index in kept)


def available_characters(
    alphabets: list[str] | tuple[str, ...] | None = None,
    max_classes_per_alphabet: int | None = None,
) -> list[GlyphClass]:
    """The classes of Glyphs (all of them, or those of the given ``alphabets``), in table order.

    Cheap (no drawings are made): ``len(available_characters())`` is the number of classes.
    """
    if alphabets is not None:
        unknown = sorted(set(alphabets) - set(ALPHABETS))
        if unknown:
            raise ValueError(f"unknown alphabets {unknown}; choose from {list(ALPHABETS)}")
    classes, per_alphabet = [], {}
    for glyph_class in _all_classes():
        if alphabets is not None and glyph_class.alphabet not in alphabets:
            continue
        count = per_alphabet.get(glyph_class.alphabet, 0)
        if max_classes_per_alphabet is not None and count >= max_classes_per_alphabet:
            continue
        per_alphabet[glyph_class.alphabet] = count + 1
        classes.append(glyph_class)
    return classes


def _class_generator(seed: int, char: str) -> torch.Generator:
    """A random generator for one character: its drawings depend on (seed, char) only."""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}/{ord(char)}".encode()))


def draw_class(
    glyph_class: GlyphClass, seed: int, drawings: int = DRAWINGS_PER_CLASS
) -> tuple[torch.Tensor, Distortion]:
    """Render the ``drawings`` of one class, undistorted, and draw their distortions.

    Returns glyphs ``float32 [drawings, CANVAS, CANVAS]`` (each in a random font
    that has the character) and their :class:`Distortion`.
    """
    generator = _class_generator(seed, glyph_class.char)
    fonts = torch.randint(len(glyph_class.fonts), (drawings,), generator=generator).tolist()
    rendered = {
        index: render_character(glyph_class.char, glyph_class.fonts[index]) for index in set(fonts)
    }
    glyphs = torch.stack([rendered[index] for index in fonts])
    return glyphs, sample_distortions(drawings, generator)


# --------------------------------------------------------------------------- the dataset


@contextlib.contextmanager
def single_threaded():
    """Run torch on one thread inside the ``with`` block, then restore the thread count.

    The images are drawn in many small batches, too small to gain from several
    threads; and on a busy machine (a shared 2-core laptop or CI runner) threads
    waiting for each other made generation many times slower (the README's thread notes).
    Generation is deterministic whatever the number of threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def generate_glyphs(
    seed: int = 0,
    image_size: int = 28,
    drawings_per_class: int = DRAWINGS_PER_CLASS,
    max_classes_per_alphabet: int | None = None,
    alphabets: list[str] | tuple[str, ...] | None = None,
    progress: bool = False,
) -> tuple[FewShotSplit, FewShotSplit]:
    """Generate Glyphs: ``(background, evaluation)`` :class:`FewShotSplit` objects.

    ``images``: ``uint8 [C * drawings_per_class, image_size, image_size]``, strokes
    bright on dark, grouped by class; ``labels``: ``int64``, ``0 .. C-1`` within each
    split. ``max_classes_per_alphabet`` and ``alphabets`` make small versions (for tests).
    """
    splits = []
    with single_threaded():
        classes = available_characters(alphabets, max_classes_per_alphabet)
        bar = tqdm(total=len(classes), desc="drawing Glyphs", unit="class", disable=not progress)
        for split in SPLITS:
            members = [glyph_class for glyph_class in classes if glyph_class.split == split]
            images = draw_images(members, seed, image_size, drawings_per_class, bar)
            splits.append(
                FewShotSplit(
                    dataset="glyphs",
                    split=split,
                    images=images,
                    labels=torch.arange(len(members)).repeat_interleave(drawings_per_class),
                    class_names=[glyph_class.name for glyph_class in members],
                    alphabets=[glyph_class.alphabet for glyph_class in members],
                )
            )
        bar.close()
    return splits[0], splits[1]


def draw_images(
    classes: list[GlyphClass],
    seed: int,
    image_size: int,
    drawings_per_class: int = DRAWINGS_PER_CLASS,
    progress_bar=None,
) -> torch.Tensor:
    """All drawings of ``classes``: ``uint8 [C * drawings_per_class, image_size, image_size]``.

    Class ``c`` has rows ``c * drawings_per_class`` to ``(c + 1) * drawings_per_class - 1``.
    Drawn in batches of about :data:`IMAGES_PER_BATCH` images, to keep memory low.
    """
    images = torch.empty(
        len(classes) * drawings_per_class, image_size, image_size, dtype=torch.uint8
    )
    classes_per_batch = max(1, IMAGES_PER_BATCH // drawings_per_class)
    for start in range(0, len(classes), classes_per_batch):
        batch = classes[start : start + classes_per_batch]
        drawn = [draw_class(glyph_class, seed, drawings_per_class) for glyph_class in batch]
        glyphs = torch.cat([glyphs for glyphs, _ in drawn])
        drawings = distort(glyphs, concatenate_distortions([distortion for _, distortion in drawn]))
        small = F.interpolate(
            drawings[:, None], size=(image_size, image_size), mode="bilinear", antialias=True
        )[:, 0]
        first = start * drawings_per_class
        images[first : first + len(small)] = (small * 255).round().clamp(0, 255).to(torch.uint8)
        if progress_bar is not None:
            progress_bar.update(len(batch))
    return images


def cache_path(root: str | Path | None = None, seed: int = 0, image_size: int = 28) -> Path:
    """Where :func:`load_glyphs` caches the splits: ``root/glyphs/glyphs-seed{S}-{size}px.pt``
    (``root`` defaults to :func:`fewshot_utils.paths.data_root`)."""
    return (
        Path(root if root is not None else data_root())
        / "glyphs"
        / f"glyphs-seed{seed}-{image_size}px.pt"
    )


def cache_fingerprint() -> dict:
    """What the images depend on besides the seed and size: a cache must match all of it.

    The generator's version, the installed fonts, the FreeType version that
    rasterises them and the Unicode database that says which code points are letters.
    """
    return {
        "generator_version": GENERATOR_VERSION,
        "fonts": installed_fonts(),
        "freetype": ft2font.__freetype_version__,
        "unicode": unicodedata.unidata_version,
    }


def load_glyphs(
    root: str | Path | None = None, seed: int = 0, image_size: int = 28, progress: bool = False
) -> tuple[FewShotSplit, FewShotSplit]:
    """Glyphs ``(background, evaluation)``, from the cache or generated (and cached).

    The cache (:func:`cache_path`) is regenerated if it is
    missing, damaged, or does not match :func:`cache_fingerprint` (made by another
    :data:`GENERATOR_VERSION` or with other fonts).
    """
    path = cache_path(root, seed, image_size)
    fingerprint = cache_fingerprint()
    try:
        state = load_tensors(
            path, kind="glyphs-cache", required=(*fingerprint, "background", "evaluation")
        )
        if all(state[key] == value for key, value in fingerprint.items()):
            return (
                FewShotSplit.from_state(state["background"]),
                FewShotSplit.from_state(state["evaluation"]),
            )
        print(f"regenerating {path}: it was made by another version of Glyphs or other fonts")
    except FileNotFoundError:
        pass
    except (CorruptFileError, KeyError, TypeError, ValueError) as error:
        print(f"regenerating the Glyphs cache: {error}")
    background, evaluation = generate_glyphs(seed=seed, image_size=image_size, progress=progress)
    save_atomically(
        {
            "kind": "glyphs-cache",
            **fingerprint,
            "seed": seed,
            "image_size": image_size,
            "background": background.state(),
            "evaluation": evaluation.state(),
        },
        path,
    )
    return background, evaluation
