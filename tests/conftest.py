"""Shared fixtures: tiny Omniglot-like folders and zips that the tests build themselves."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Small tests on tiny tensors: one thread is faster and does not fight other processes.
torch.set_num_threads(1)


def draw_character(seed: int, drawing: int, size: int = 105) -> Image.Image:
    """A 'character': a few dark strokes on white paper, the same strokes for one seed,
    jittered a little for each drawing (the way two people draw one character)."""
    rng = np.random.default_rng(seed)
    jitter = np.random.default_rng(1000 * seed + drawing)
    paper = np.full((size, size), 255, dtype=np.uint8)
    for _ in range(3):
        (r0, c0), (r1, c1) = rng.integers(15, size - 15, size=(2, 2))
        r0, c0 = np.clip([r0, c0] + jitter.integers(-3, 4, size=2), 5, size - 6)
        for t in np.linspace(0, 1, 60):
            r, c = int(r0 + t * (r1 - r0)), int(c0 + t * (c1 - c0))
            paper[r - 3 : r + 3, c - 3 : c + 3] = 0
    return Image.fromarray(paper).convert("1")


def make_omniglot_folder(
    folder: Path, alphabets: dict[str, int], drawings: int = 20, seed: int = 0
) -> Path:
    """``folder/<Alphabet>/characterNN/NNNN_DD.png`` like Omniglot's zips hold."""
    number = 0
    for a, (alphabet, characters) in enumerate(sorted(alphabets.items())):
        for c in range(1, characters + 1):
            number += 1
            character = folder / alphabet / f"character{c:02d}"
            character.mkdir(parents=True, exist_ok=True)
            for d in range(1, drawings + 1):
                image = draw_character(seed + 100 * a + c, d)
                image.save(character / f"{number:04d}_{d:02d}.png")
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder.parent).as_posix())
    return archive


@pytest.fixture(scope="session")
def tiny_omniglot_zips(tmp_path_factory) -> list[Path]:
    """``images_background.zip`` (3 alphabets, 6 classes) and ``images_evaluation.zip``
    (2 alphabets, 4 classes), 20 drawings each, in Omniglot's layout."""
    base = tmp_path_factory.mktemp("zips")
    background = make_omniglot_folder(
        base / "src" / "images_background", {"Alpha": 2, "Beta": 2, "Gamma": 2}, seed=0
    )
    evaluation = make_omniglot_folder(
        base / "src" / "images_evaluation", {"Delta": 2, "Epsilon": 2}, seed=50
    )
    return [
        zip_folder(background, base / "images_background.zip"),
        zip_folder(evaluation, base / "images_evaluation.zip"),
    ]


@pytest.fixture(autouse=True)
def no_shared_environment(monkeypatch):
    """Tests must not see the CI's real Omniglot zips or data folder unless they ask."""
    for variable in ("FEWSHOT_OMNIGLOT_ZIPS", "FEWSHOT_DATA_DIR"):
        monkeypatch.delenv(variable, raising=False)
    yield


def real_omniglot_zips() -> list[Path]:
    """The shared real Omniglot zips, when this machine has them (CI does)."""
    folder = Path(os.environ.get("FEWSHOT_REAL_OMNIGLOT", "../shared/data/omniglot"))
    zips = [folder / "images_background.zip", folder / "images_evaluation.zip"]
    return zips if all(z.is_file() for z in zips) else []


# ----------------------------------------------------------------------------
# Toy features and splits, shared by the tests of evaluation, inspection and widgets
# ----------------------------------------------------------------------------


def make_clusters(
    classes: int = 12,
    per_class: int = 20,
    dim: int = 16,
    noise: float = 0.3,
    seed: int = 0,
    unit_centres: bool = True,
    lengths: bool = False,
    relu: bool = False,
    images: bool = False,
):
    """Cached 'features' of a toy split: one random direction per class plus Gaussian noise.

    Returns ``(features [I, d], labels [I])``, plus ``images uint8 [I, 28, 28]`` (random) when
    ``images``. ``unit_centres``: the class directions have length 1; ``lengths``: each
    feature is scaled by a random factor in [0.5, 1.5) (lengths that say nothing of the
    class); ``relu``: features are non-negative, like a ReLU network's.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    centres = torch.randn(classes, dim, generator=generator)
    if unit_centres:
        centres = centres / centres.norm(dim=-1, keepdim=True)
    features = centres[labels] + noise * torch.randn(len(labels), dim, generator=generator)
    if lengths:
        features = features * (0.5 + torch.rand(len(labels), 1, generator=generator))
    if relu:
        features = features.relu()
    if not images:
        return features, labels
    pictures = torch.randint(0, 256, (len(labels), 28, 28), dtype=torch.uint8, generator=generator)
    return features, labels, pictures


def make_toy_split(labels, images, dataset: str = "toy", split: str = "evaluation"):
    """A :class:`~fewshot_utils.data.splits.FewShotSplit` of toy classes ``Toy/characterNN``."""
    from fewshot_utils.data.splits import FewShotSplit

    classes = int(labels.max()) + 1
    return FewShotSplit(
        dataset=dataset,
        split=split,
        images=images,
        labels=labels,
        class_names=[f"Toy/character{c:02d}" for c in range(classes)],
        alphabets=["Toy"] * classes,
    )


@pytest.fixture
def clusters():
    """:func:`make_clusters`, for a test to call with its own sizes and noise."""
    return make_clusters


@pytest.fixture
def toy_split():
    """``toy_split(**make_clusters_arguments) -> (features, split)``: clusters and a split."""

    def build(**keywords):
        features, labels, images = make_clusters(images=True, **keywords)
        return features, make_toy_split(labels, images)

    return build


# Bad inputs a learner can make, built once (tests/test_bad_input.py)
# ----------------------------------------------------------------------------


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb as
    PIL sees it: it refuses from the header, before decoding anything)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


def drawing(shape: str, size: int = 40) -> Image.Image:
    """Dark ink on white paper: a bar, a ring or a cross."""
    from PIL import ImageDraw

    image = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(image)
    a, b = size // 4, 3 * size // 4
    if shape == "bar":
        pen.line([(a, size // 2), (b, size // 2)], fill=0, width=4)
    elif shape == "ring":
        pen.ellipse([a, a, b, b], outline=0, width=4)
    else:
        pen.line([(a, a), (b, b)], fill=0, width=4)
        pen.line([(a, b), (b, a)], fill=0, width=4)
    return image


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """Files and folders a learner might pass by mistake, by name: images that cannot be
    read, checkpoints that are not ours, a plain file and a plain folder."""
    from fewshot_utils.models.checkpoints import save_checkpoint
    from fewshot_utils.models.conv4 import Conv4, Preprocessing

    folder = tmp_path_factory.mktemp("bad")
    files = {"file": folder / "a_file.txt", "dir": folder / "a_folder"}
    files["file"].write_text("just text\n")
    files["dir"].mkdir()
    files["bomb"] = png_claiming(folder / "huge.png", 16000, 16000)
    files["empty_image"] = folder / "empty.png"
    files["empty_image"].write_bytes(b"")
    good = folder / "good.png"
    drawing("ring", 64).save(good)
    files["truncated_image"] = folder / "truncated.png"
    files["truncated_image"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["svg"] = folder / "drawing.svg"
    files["svg"].write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
    files["text_as_png"] = folder / "notes.png"
    files["text_as_png"].write_text("these are my notes, not a picture\n")
    files["folder_as_image"] = folder / "photos.png"
    files["folder_as_image"].mkdir()
    files["empty_pt"] = folder / "empty.pt"
    files["empty_pt"].write_bytes(b"")
    files["garbage_pt"] = folder / "garbage.pt"
    files["garbage_pt"].write_bytes(b"\x00this is not a torch file" * 10)
    torch.manual_seed(0)
    whole = save_checkpoint(folder / "whole.pt", Conv4(channels=16), Preprocessing())
    files["truncated_pt"] = folder / "truncated.pt"
    files["truncated_pt"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    files["state_dict_pt"] = folder / "state_dict.pt"
    torch.save(Conv4(channels=16).state_dict(), files["state_dict_pt"])
    files["foreign_pt"] = folder / "foreign.pt"
    torch.save({"epoch": 3, "model": {"w": torch.zeros(2)}}, files["foreign_pt"])
    files["unfit_pt"] = folder / "unfit.pt"  # says it is ours, but its weights do not fit
    state = torch.load(whole, weights_only=True)
    state["channels"] = 32
    torch.save(state, files["unfit_pt"])
    return files


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random Conv4 with 16 channels, saved as the course's checkpoint."""
    from fewshot_utils.models.checkpoints import save_checkpoint
    from fewshot_utils.models.conv4 import Conv4, Preprocessing

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("checkpoint") / "conv4.pt"
    return save_checkpoint(path, Conv4(channels=16), Preprocessing())


@pytest.fixture(scope="session")
def support_folder(tmp_path_factory) -> Path:
    """``support/{bar,cross,ring}/{0,1}.png``, plus what a learner's computer adds:
    ``.DS_Store``, ``.ipynb_checkpoints/`` (with an image in it), ``._0.png`` (macOS
    AppleDouble), ``__MACOSX/``, none of them images of the support set."""
    folder = tmp_path_factory.mktemp("support") / "support"
    for shape in ("bar", "cross", "ring"):
        (folder / shape).mkdir(parents=True)
        for shot in range(2):
            drawing(shape).save(folder / shape / f"{shot}.png")
        (folder / shape / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1 not an image")
        (folder / shape / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / ".ipynb_checkpoints").mkdir()
    drawing("ring").save(folder / ".ipynb_checkpoints" / "0-checkpoint.png")
    (folder / "__MACOSX" / "bar").mkdir(parents=True)
    (folder / "__MACOSX" / "bar" / "._0.png").write_bytes(b"\x00\x05\x16\x07")
    return folder
