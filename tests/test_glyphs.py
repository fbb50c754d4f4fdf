"""Tests of Glyphs, the offline stand-in for Omniglot (small versions: a few classes each)."""

from __future__ import annotations

import pytest
import torch

from fewshot_utils.data import glyph_drawing, glyphs
from fewshot_utils.data.glyphs import (
    ALPHABETS,
    EVALUATION_ALPHABETS,
    available_characters,
    generate_glyphs,
    load_glyphs,
    render_character,
)
from fewshot_utils.data.splits import FewShotSplit

torch.set_num_threads(1)

SMALL = dict(alphabets=("Latin", "Greek", "Hebrew", "Armenian"), max_classes_per_alphabet=4)


@pytest.fixture(scope="module")
def small():
    """(background, evaluation) of 2 + 2 alphabets, 4 classes each, 20 drawings per class."""
    return generate_glyphs(seed=0, **SMALL)


def test_shapes_and_types(small):
    background, evaluation = small
    for split, name in zip(small, ("background", "evaluation"), strict=True):
        assert isinstance(split, FewShotSplit)
        assert split.dataset == "glyphs" and split.split == name
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == torch.int64
        assert split.labels.min() == 0 and split.labels.max() == split.num_classes - 1
        assert len(split.class_names) == len(split.alphabets) == split.num_classes == 8
    assert background.class_names[0] == "Latin/U+0041 A"
    assert set(background.alphabets) == {"Latin", "Greek"}
    assert set(evaluation.alphabets) == {"Hebrew", "Armenian"}


def test_twenty_drawings_per_class(small):
    for split in small:
        assert split.images_per_class().tolist() == [20] * split.num_classes


def test_strokes_bright_on_dark(small):
    images = torch.cat([split.images for split in small]).float()
    assert (images == 0).float().mean() > 0.6  # mostly dark background
    assert (images.flatten(1).amax(dim=1) >= 200).all()  # every drawing has bright strokes
    ink = (images > 128).float().mean(dim=(1, 2))
    assert (ink > 0.03).all() and (ink < 0.45).all()  # strokes, neither empty nor filled
    # Centred: the bounding box of the ink is near the middle of the image.
    for image in images:
        rows, cols = torch.nonzero(image > 64, as_tuple=True)
        assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 5
        assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 5


def test_same_seed_same_images_other_seed_other_images(small):
    again = generate_glyphs(seed=0, **SMALL)
    other = generate_glyphs(seed=1, **SMALL)
    for first, second, third in zip(small, again, other, strict=True):
        assert torch.equal(first.images, second.images)
        assert torch.equal(first.labels, second.labels)
        assert first.class_names == second.class_names == third.class_names
        assert not torch.equal(first.images, third.images)


def test_drawings_depend_on_seed_and_character_only(small):
    """A class gets the same drawings whichever other classes are generated with it."""
    hebrew_only = generate_glyphs(seed=0, alphabets=["Hebrew"], max_classes_per_alphabet=2)[1]
    evaluation = small[1]
    first = evaluation.alphabets.index("Hebrew")  # the classes are in table order
    assert hebrew_only.class_names == evaluation.class_names[first : first + 2]
    assert torch.equal(hebrew_only.images, evaluation.images[first * 20 : (first + 2) * 20])


def test_drawings_of_a_class_differ(small):
    images = small[0].images
    labels = small[0].labels
    for label in range(small[0].num_classes):
        drawings = images[labels == label].flatten(1)
        assert len(torch.unique(drawings, dim=0)) == 20


def test_same_class_more_alike_than_different_classes(small):
    for split in small:
        pixels = split.images.flatten(1).float()
        pixels = pixels - pixels.mean(dim=1, keepdim=True)
        pixels = pixels / pixels.norm(dim=1, keepdim=True)
        correlation = pixels @ pixels.T
        same = split.labels[:, None] == split.labels[None, :]
        off_diagonal = ~torch.eye(len(pixels), dtype=torch.bool)
        within = correlation[same & off_diagonal].mean()
        between = correlation[~same].mean()
        assert within > between + 0.1, (within, between)


def test_image_size_and_drawings_per_class():
    background, evaluation = generate_glyphs(
        image_size=32, drawings_per_class=3, alphabets=["Latin", "Lao"], max_classes_per_alphabet=2
    )
    assert background.images.shape == (6, 32, 32)
    assert evaluation.images.shape == (6, 32, 32)
    assert background.images_per_class().tolist() == [3, 3]


def test_unknown_alphabet_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown alphabets"):
        available_characters(["Klingon"])


def test_render_character_is_centred_ink():
    ink = render_character("A", "DejaVuSans.ttf")
    assert ink.shape == (64, 64) and ink.dtype == torch.float32
    assert 0 <= ink.min() and ink.max() <= 1 and ink.max() > 0.9
    rows, cols = torch.nonzero(ink > 0.5, as_tuple=True)
    assert abs((rows.min() + rows.max()) / 2 - 31.5) <= 2
    assert abs((cols.min() + cols.max()) / 2 - 31.5) <= 2
    assert render_character(" ", "DejaVuSans.ttf").sum() == 0


def test_full_table_has_over_1000_classes_split_by_alphabet():
    classes = available_characters()
    assert len(classes) >= 1000
    assert len({glyph_class.name for glyph_class in classes}) == len(classes)
    assert len({glyph_class.char for glyph_class in classes}) == len(classes)
    background = [c for c in classes if c.split == "background"]
    evaluation = [c for c in classes if c.split == "evaluation"]
    assert 0.5 < len(background) / len(classes) < 0.7  # Omniglot: 964 / 1623 = 0.59
    assert not {c.alphabet for c in background} & {c.alphabet for c in evaluation}
    assert {c.alphabet for c in evaluation} == set(EVALUATION_ALPHABETS)
    assert {c.alphabet for c in classes} == set(ALPHABETS)
    assert all(c.fonts for c in classes)


def test_a_font_is_chosen_only_if_it_has_the_glyph():
    from matplotlib.ft2font import FT2Font

    fonts = glyphs.fonts_with_glyph("\u05d0")  # Hebrew alef: in some fonts, not in others
    assert 0 < len(fonts) < len(glyph_drawing.installed_fonts())
    for name in fonts:
        assert FT2Font(str(glyph_drawing.FONT_FOLDER / name)).get_char_index(0x05D0) != 0
    assert not any(name.startswith("cm") for name in fonts)  # TeX encoding: ASCII only
    assert glyphs.fonts_with_glyph("\U0001f99c") == ()  # parrot emoji: in no font


@pytest.fixture
def small_generator(monkeypatch):
    """Make `load_glyphs` generate the small version, counting how often it generates."""
    calls = []

    def generate(**kwargs):
        calls.append(kwargs)
        return generate_glyphs(**kwargs, **SMALL)

    monkeypatch.setattr(glyphs, "generate_glyphs", generate)
    return calls


def test_cache_round_trip(tmp_path, small_generator):
    background, evaluation = load_glyphs(root=tmp_path, seed=0)
    path = tmp_path / "glyphs" / "glyphs-seed0-28px.pt"
    assert path.is_file() and len(small_generator) == 1
    state = torch.load(path, weights_only=True)
    assert state["kind"] == "glyphs-cache" and state["fonts"] == glyph_drawing.installed_fonts()
    assert state["generator_version"] == glyphs.GENERATOR_VERSION
    cached_background, cached_evaluation = load_glyphs(root=tmp_path, seed=0)
    assert len(small_generator) == 1  # read from the cache, not generated again
    for fresh, cached in ((background, cached_background), (evaluation, cached_evaluation)):
        assert torch.equal(fresh.images, cached.images)
        assert torch.equal(fresh.labels, cached.labels)
        assert fresh.class_names == cached.class_names and fresh.alphabets == cached.alphabets
        assert cached.split == fresh.split and cached.dataset == "glyphs"


def test_corrupt_cache_is_regenerated(tmp_path, small_generator, capsys):
    background, _ = load_glyphs(root=tmp_path)
    path = glyphs.cache_path(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])  # a truncated file
    again, _ = load_glyphs(root=tmp_path)
    assert len(small_generator) == 2 and "regenerating" in capsys.readouterr().out
    assert torch.equal(again.images, background.images)
    load_glyphs(root=tmp_path)
    assert len(small_generator) == 2  # the regenerated cache is good


def test_cache_of_another_generator_version_is_rebuilt(tmp_path, small_generator, monkeypatch):
    load_glyphs(root=tmp_path)
    monkeypatch.setattr(glyphs, "GENERATOR_VERSION", glyphs.GENERATOR_VERSION + 1)
    load_glyphs(root=tmp_path)
    assert len(small_generator) == 2
    load_glyphs(root=tmp_path)
    assert len(small_generator) == 2


def test_cache_depends_on_seed_and_size(tmp_path, small_generator):
    first, _ = load_glyphs(root=tmp_path, seed=0)
    second, _ = load_glyphs(root=tmp_path, seed=1)
    assert not torch.equal(first.images, second.images)
    assert glyphs.cache_path(tmp_path, seed=1, image_size=28).is_file()
    assert small_generator[-1] == dict(seed=1, image_size=28, progress=False)


def test_generation_restores_the_thread_count():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generate_glyphs(alphabets=["Greek"], max_classes_per_alphabet=1, drawings_per_class=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
