"""Classifying your own images: a support folder of PNGs that the tests draw themselves."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fewshot_utils.data.folders import read_class_folders
from fewshot_utils.data.images import load_images
from fewshot_utils.fewshot.predict import predict
from fewshot_utils.models.checkpoints import PretrainedBackbone, save_checkpoint
from fewshot_utils.models.conv4 import Conv4, Preprocessing


def draw(shape: str, size=(60, 60), offset: int = 0, colour=False) -> Image.Image:
    """Dark ink on white paper, like a scan: a bar, a ring or a cross."""
    width, height = size
    image = Image.new("RGB" if colour else "L", size, (250, 245, 235) if colour else 255)
    pen = ImageDraw.Draw(image)
    ink = (20, 30, 120) if colour else 0
    x0, y0, x1, y1 = width // 4 + offset, height // 4, 3 * width // 4 + offset, 3 * height // 4
    if shape == "bar":
        pen.line([(x0, height // 2), (x1, height // 2)], fill=ink, width=max(2, height // 8))
    elif shape == "ring":
        pen.ellipse([x0, y0, x1, y1], outline=ink, width=max(2, width // 10))
    else:
        pen.line([(x0, y0), (x1, y1)], fill=ink, width=max(2, width // 10))
        pen.line([(x0, y1), (x1, y0)], fill=ink, width=max(2, width // 10))
    return image


@pytest.fixture
def pretrained():
    torch.manual_seed(0)
    return PretrainedBackbone(Conv4(channels=16).eval(), Preprocessing())


@pytest.fixture
def support(tmp_path):
    folder = tmp_path / "support"
    for shape in ("bar", "cross", "ring"):
        (folder / shape).mkdir(parents=True)
        for shot in range(2):
            draw(shape, offset=3 * shot).save(folder / shape / f"{shot}.png")
    (folder / ".ipynb_checkpoints").mkdir()  # hidden: ignored
    (folder / "bar" / "notes.txt").write_text("not an image")  # not an image: ignored
    return folder


def test_read_support_folder(support):
    class_names, paths = read_class_folders(support)
    assert class_names == ["bar", "cross", "ring"]
    assert [[p.name for p in class_paths] for class_paths in paths] == [["0.png", "1.png"]] * 3


def test_a_support_image_is_classified_as_its_own_class(pretrained, support):
    queries = [support / shape / "1.png" for shape in ("bar", "cross", "ring")]
    results = predict(pretrained, support, queries)
    assert [r["predicted"] for r in results] == ["bar", "cross", "ring"]
    for result in results:
        assert list(result["probabilities"]) == ["bar", "cross", "ring"]
        assert sum(result["probabilities"].values()) == pytest.approx(1.0)
        best = max(result["probabilities"], key=result["probabilities"].get)
        assert best == result["predicted"]


def test_fine_tuning_methods_predict_too(pretrained, support):
    results = predict(pretrained, support, [support / "ring" / "0.png"], method="finetune-all")
    assert results[0]["predicted"] == "ring"
    assert sum(results[0]["probabilities"].values()) == pytest.approx(1.0)


def test_colour_odd_sizes_and_transparency_are_accepted(tmp_path):
    paths = [tmp_path / "colour.jpg", tmp_path / "odd.png", tmp_path / "alpha.png"]
    draw("ring", size=(53, 37), colour=True).save(paths[0])
    draw("bar", size=(17, 90)).save(paths[1])
    ink_on_transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent *black*
    ImageDraw.Draw(ink_on_transparent).line([(5, 20), (35, 20)], fill=(0, 0, 0, 255), width=5)
    ink_on_transparent.save(paths[2])
    images = Preprocessing(image_size=28, invert=True).load_files(paths)
    assert images.dtype == torch.uint8 and images.shape == (3, 28, 28)
    for image in images:  # inverted like the dataset: dark background, bright strokes
        border = torch.cat([image[0], image[-1], image[:, 0], image[:, -1]]).float().mean()
        assert border < 40 and image.max() > 150


def test_bright_strokes_on_dark_are_not_inverted_again(tmp_path):
    path = tmp_path / "already.png"
    array = np.zeros((28, 28), dtype=np.uint8)
    array[10:18, 4:24] = 255
    Image.fromarray(array).save(path)
    image = Preprocessing(image_size=28, invert=True).load_files([path])[0]
    assert image[0, 0] == 0 and image[14, 14] == 255
    scan = tmp_path / "scan.png"
    Image.fromarray(255 - array).save(scan)
    assert torch.equal(Preprocessing(invert=True).load_files([scan])[0], image)
    # A dataset that was not inverted: images are taken as they are.
    assert load_images([scan], invert=False)[0][0, 0] == 255


def test_missing_and_wrong_folders_are_clear_errors(tmp_path, pretrained):
    with pytest.raises(ValueError, match="support folder .*nowhere does not exist"):
        read_class_folders(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        read_class_folders(tmp_path / "file.png")
    one = tmp_path / "one"
    (one / "alpha").mkdir(parents=True)
    draw("bar").save(one / "alpha" / "a.png")
    with pytest.raises(ValueError, match=r"1 class sub-folder\(s\) \(alpha\).*at least two"):
        read_class_folders(one)
    (one / "beta").mkdir()
    (one / "beta" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="class folder .*beta has no images"):
        read_class_folders(one)


def test_unreadable_and_missing_images_are_named(support, pretrained):
    broken = support / "ring" / "broken.png"
    broken.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        predict(pretrained, support, [support / "bar" / "0.png"])
    broken.unlink()
    with pytest.raises(ValueError, match="image .*missing.png does not exist"):
        predict(pretrained, support, [support / "missing.png"])
    with pytest.raises(ValueError, match="no query images given"):
        predict(pretrained, support, [])


def test_fine_tuning_needs_equal_shots(support, pretrained):
    draw("bar", offset=-3).save(support / "bar" / "2.png")
    query = [support / "bar" / "0.png"]
    assert predict(pretrained, support, query)[0]["predicted"] == "bar"  # prototypes: fine
    with pytest.raises(
        ValueError, match=r"same number of support images in every class.*bar: 3, cross: 2"
    ):
        predict(pretrained, support, query, method="finetune-init")
    with pytest.raises(ValueError, match="unknown method"):
        predict(pretrained, support, query, method="knn")


def test_cli_predict(tmp_path, support, capsys):
    from fewshot_utils.cli import main

    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "c.pt", Conv4(channels=16), Preprocessing())
    out = tmp_path / "predictions.json"
    query = str(support / "cross" / "0.png")
    arguments = ["predict", "--checkpoint", str(checkpoint), "--support", str(support)]
    assert main([*arguments, "--query", query, "--json", str(out)]) == 0
    assert f"{query}: cross  (cross " in capsys.readouterr().out
    assert json.loads(out.read_text())[0]["predicted"] == "cross"
    assert main([*arguments, "--query", str(tmp_path / "nope.png")]) == 2
    assert "nope.png does not exist" in capsys.readouterr().err


def test_prototype_scale_sharpens_probabilities_but_keeps_the_prediction(pretrained, support):
    queries = [support / shape / "1.png" for shape in ("bar", "cross", "ring")]
    plain = predict(pretrained, support, queries)
    sharp = predict(pretrained, support, queries, scale=10.0)
    for a, b in zip(plain, sharp, strict=True):
        assert a["predicted"] == b["predicted"]
        assert max(b["probabilities"].values()) > max(a["probabilities"].values())
