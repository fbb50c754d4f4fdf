"""The Omniglot loader on tiny folders and zips built by the tests, and dataset choice."""

from __future__ import annotations

import os
import time
import zipfile

import pytest
import torch
from PIL import Image

from fewshot_utils.data import omniglot as data
from fewshot_utils.data.datasets import load_dataset, load_omniglot
from fewshot_utils.data.images import to_dataset_image
from fewshot_utils.data.omniglot import OmniglotUnavailable, safe_extract


def test_loads_both_splits_from_local_zips(tmp_path, tiny_omniglot_zips):
    dataset = load_omniglot(tmp_path, zips=tiny_omniglot_zips, download=False)
    background, evaluation = dataset.background, dataset.evaluation
    assert background.describe() == "omniglot background: 3 alphabets, 6 classes, 120 images"
    assert evaluation.describe() == "omniglot evaluation: 2 alphabets, 4 classes, 80 images"
    assert background.images.shape == (120, 28, 28) and background.images.dtype == torch.uint8
    assert background.class_names[0] == "Alpha/character01"
    assert background.alphabets == ["Alpha", "Alpha", "Beta", "Beta", "Gamma", "Gamma"]
    assert torch.equal(background.images_per_class(), torch.full((6,), 20))
    # Strokes bright on dark: the paper (most pixels) is dark after inversion.
    assert background.images.float().median() < 30 and background.images.max() > 200
    # Extracted in torchvision's layout.
    assert (tmp_path / "omniglot-py" / "images_background" / "Alpha" / "character01").is_dir()


def test_zips_from_environment_variable(tmp_path, tiny_omniglot_zips, monkeypatch):
    monkeypatch.setenv("FEWSHOT_OMNIGLOT_ZIPS", str(tiny_omniglot_zips[0].parent))
    dataset = load_dataset("omniglot", root=tmp_path, download=False)
    assert dataset.name == "omniglot" and dataset.evaluation.num_classes == 4


def test_second_load_comes_from_cache_and_cache_follows_source(tmp_path, tiny_omniglot_zips):
    first = load_omniglot(tmp_path, zips=tiny_omniglot_zips, download=False)
    cache = tmp_path / "omniglot-py" / "cache" / "images_background-28px.pt"
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    again = load_omniglot(tmp_path, download=False)  # no zips needed any more
    assert torch.equal(again.background.images, first.background.images)
    assert cache.stat().st_mtime_ns == stamp  # read, not rewritten

    # Change the source: one drawing removed -> the cache is rebuilt.
    victim = next((tmp_path / "omniglot-py" / "images_background" / "Beta").rglob("*.png"))
    victim.unlink()
    changed = load_omniglot(tmp_path, download=False)
    assert len(changed.background) == len(first.background) - 1


def test_corrupt_cache_is_rebuilt(tmp_path, tiny_omniglot_zips):
    first = load_omniglot(tmp_path, zips=tiny_omniglot_zips, download=False)
    cache = tmp_path / "omniglot-py" / "cache" / "images_evaluation-28px.pt"
    cache.write_bytes(b"not a torch file")
    again = load_omniglot(tmp_path, download=False)
    assert torch.equal(again.evaluation.images, first.evaluation.images)


def test_other_image_size(tmp_path, tiny_omniglot_zips):
    dataset = load_omniglot(tmp_path, image_size=20, zips=tiny_omniglot_zips, download=False)
    assert dataset.background.images.shape[1:] == (20, 20)


def test_explicit_omniglot_without_data_raises_clear_error(tmp_path):
    with pytest.raises(OmniglotUnavailable, match="FEWSHOT_OMNIGLOT_ZIPS"):
        load_dataset("omniglot", root=tmp_path, download=False)


def test_auto_falls_back_to_glyphs_with_one_line(tmp_path, capsys, monkeypatch):
    from fewshot_utils.data import glyphs

    calls = {}

    def tiny_glyphs(root, seed, image_size):
        calls["args"] = (root, seed, image_size)
        return glyphs.generate_glyphs(seed=seed, image_size=image_size, max_classes_per_alphabet=2)

    monkeypatch.setattr(glyphs, "load_glyphs", tiny_glyphs)
    dataset = load_dataset("auto", root=tmp_path, download=False)
    assert dataset.name == "glyphs" and calls["args"][1:] == (0, 28)
    message = capsys.readouterr().out.strip().splitlines()
    assert len(message) == 1
    assert "Glyphs" in message[0] and "FEWSHOT_OMNIGLOT_ZIPS" in message[0]


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="choose one of auto, omniglot, glyphs"):
        load_dataset("mnist")


def test_extraction_refuses_paths_that_leave_the_target(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("images_background/ok.txt", "fine")
        zipped.writestr("../escaped.txt", "outside")
    target = tmp_path / "target"
    with pytest.raises(ValueError, match="leaves"):
        safe_extract(archive, target)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (target / "images_background").exists()  # nothing half-extracted


def test_broken_zip_gives_clear_error(tmp_path):
    broken = tmp_path / "images_background.zip"
    broken.write_bytes(b"PK garbage")
    with pytest.raises(OmniglotUnavailable, match="not a readable zip"):
        load_omniglot(tmp_path / "root", zips=[broken], download=False)


def test_download_uses_torchvision_urls_and_checksums(tmp_path, tiny_omniglot_zips, monkeypatch):
    """The download path, served from 127.0.0.1: the loader fetches both zips by
    torchvision's URL scheme, checks the md5 and extracts them."""
    import functools
    import http.server
    import threading

    from torchvision.datasets import Omniglot
    from torchvision.datasets.utils import calculate_md5

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tiny_omniglot_zips[0].parent)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(
            Omniglot, "download_url_prefix", f"http://127.0.0.1:{server.server_port}"
        )
        monkeypatch.setattr(
            Omniglot,
            "zips_md5",
            {z.stem: calculate_md5(str(z)) for z in tiny_omniglot_zips},
        )
        dataset = load_dataset("omniglot", root=tmp_path)
        assert dataset.background.num_classes == 6
        assert (tmp_path / "omniglot-py" / "images_evaluation.zip").is_file()

        # A wrong checksum is an error, not silently accepted data.
        monkeypatch.setattr(Omniglot, "zips_md5", {z.stem: "0" * 32 for z in tiny_omniglot_zips})
        with pytest.raises(OmniglotUnavailable, match="download"):
            load_dataset("omniglot", root=tmp_path / "other")
    finally:
        server.shutdown()


def test_unreachable_download_fails_fast(tmp_path, monkeypatch):
    from torchvision.datasets import Omniglot

    monkeypatch.setattr(Omniglot, "download_url_prefix", "http://127.0.0.1:9")  # discard port
    start = time.perf_counter()
    with pytest.raises(OmniglotUnavailable, match="could not download"):
        load_dataset("omniglot", root=tmp_path)
    assert time.perf_counter() - start < data.DOWNLOAD_TIMEOUT_SECONDS + 5


def test_to_dataset_image_inverts_and_resizes():
    paper = Image.new("RGB", (50, 70), "white")
    paper.paste((0, 0, 0), (20, 20, 30, 50))
    image = to_dataset_image(paper, image_size=28, invert=True)
    assert image.shape == (28, 28) and image.dtype == torch.uint8
    assert image[0, 0] == 0 and image[14, 12] == 255


def test_unreadable_png_names_the_file(tmp_path):
    folder = tmp_path / "images_background" / "Alpha" / "character01"
    folder.mkdir(parents=True)
    (folder / "0001_01.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="0001_01.png"):
        data.load_image_folder(tmp_path / "images_background", "omniglot", "background")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_cache_write_is_atomic(tmp_path, tiny_omniglot_zips, monkeypatch):
    """A save that fails half-way leaves no partial cache file behind."""
    from fewshot_utils import storage

    def failing_save(obj, file):
        file.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        load_omniglot(tmp_path, zips=tiny_omniglot_zips, download=False)
    cache_dir = tmp_path / "omniglot-py" / "cache"
    assert list(cache_dir.iterdir()) == []
