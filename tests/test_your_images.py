"""Your own images: uploads -> the predict command's code, the figures, ResNet-18 photos offline."""

from __future__ import annotations

import datetime
import http.server
import io
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from fewshot_utils.fewshot.methods import METHODS
from fewshot_utils.fewshot.predict import (
    compare_methods,
    example_folder,
    farm_animals,
    predict,
)
from fewshot_utils.models import resnet
from fewshot_utils.models.checkpoints import PretrainedBackbone
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.models.resnet import (
    PhotoBackbone,
    PhotoPreprocessing,
    ResNetFeatures,
    WeightsUnavailable,
    load_resnet18,
    photo_features,
)
from fewshot_utils.paths import EXAMPLE_IMAGES
from fewshot_utils.viz.images import support_figure
from fewshot_utils.viz.results import probability_figure
from fewshot_utils.widgets.upload import (
    add_to_support,
    classify_uploads,
    safe_name,
    support_summary,
    upload_widget,
    uploaded_files,
    write_support_folder,
)

SHAPES = ("bar", "cross", "ring")
NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)  # FileUpload's last_modified


def draw(shape: str, offset: int = 0, size: int = 60, colour=(250, 245, 235)) -> Image.Image:
    """Dark ink on light, slightly coloured paper: a bar, a cross or a ring."""
    image = Image.new("RGB", (size, size), colour)
    pen = ImageDraw.Draw(image)
    ink, width = (20, 30, 90), max(2, size // 10)
    x0, y0, x1, y1 = size // 4 + offset, size // 4, 3 * size // 4 + offset, 3 * size // 4
    if shape == "bar":
        pen.line([(x0, size // 2), (x1, size // 2)], fill=ink, width=width)
    elif shape == "ring":
        pen.ellipse([x0, y0, x1, y1], outline=ink, width=width)
    else:
        pen.line([(x0, y0), (x1, y1)], fill=ink, width=width)
        pen.line([(x0, y1), (x1, y0)], fill=ink, width=width)
    return image


def png_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


@pytest.fixture
def pretrained():
    torch.manual_seed(0)
    return PretrainedBackbone(Conv4(channels=16).eval(), Preprocessing())


@pytest.fixture
def uploads():
    """``{class: [(name, bytes)]}`` with two images per class, and three queries."""
    support = {
        shape: [(f"{shape}{shot}.png", png_bytes(draw(shape, 3 * shot))) for shot in range(2)]
        for shape in SHAPES
    }
    queries = [(f"{shape}.jpg", png_bytes(draw(shape, 1), "JPEG")) for shape in SHAPES]
    return support, queries


def test_uploaded_files_reads_both_ipywidgets_formats():
    content = png_bytes(draw("bar"))
    version8 = ({"name": "a.png", "type": "image/png", "content": memoryview(content)},)
    version7 = {"a.png": {"metadata": {"name": "a.png"}, "content": content}}
    assert uploaded_files(version8) == [("a.png", content)]
    assert uploaded_files(version7) == [("a.png", content)]
    assert uploaded_files(()) == [] and uploaded_files(None) == []


def test_uploaded_files_reads_a_real_file_upload_widget():
    ipywidgets = pytest.importorskip("ipywidgets")
    upload = ipywidgets.FileUpload(multiple=True)
    content = png_bytes(draw("ring"))
    entry = {"name": "r.png", "type": "image/png", "size": len(content), "last_modified": NOW}
    upload.value = ({**entry, "content": memoryview(content)},)
    assert uploaded_files(upload.value) == [("r.png", content)]


def test_names_are_made_safe():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("  my cat!  ") == "my cat_"
    assert safe_name(r"C:\photos\pig.jpg", "file name") == "pig.jpg"
    with pytest.raises(ValueError, match="empty"):
        safe_name(" .. ")


def test_add_to_support_checks_names_files_and_images(uploads):
    support, _ = uploads
    collected: dict = {}
    message = add_to_support(collected, "bar", support["bar"])
    assert "added 2 image(s) to 'bar'" in message and collected["bar"] == support["bar"]
    add_to_support(collected, "bar", support["bar"][:1])
    assert support_summary(collected) == "support set: bar (3 images)"
    with pytest.raises(ValueError, match="class name is empty"):
        add_to_support(collected, "", support["ring"])
    with pytest.raises(ValueError, match="no images chosen"):
        add_to_support(collected, "ring", [])
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        add_to_support(collected, "ring", [("notes.txt", b"hello")])
    assert list(collected) == ["bar"]  # a failed add changes nothing


def test_uploads_go_through_the_predict_commands_code(pretrained, uploads, tmp_path):
    support, queries = uploads
    compared, figure = classify_uploads(pretrained, support, queries)
    assert isinstance(figure, Figure)
    scale = METHODS["W = M + entropy + cosine"].scale
    assert list(compared) == ["prototype", "W = M + entropy + cosine"]
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[1:3] == ["prototype (s = 1)", f"W = M + entropy + cosine (s = {scale:g})"]
    # The same files on disk, through predict itself: the same numbers.
    support_dir = write_support_folder(support, tmp_path / "support")
    query_paths = []
    for name, content in queries:
        query_paths.append(tmp_path / name)
        query_paths[-1].write_bytes(content)
    for label, method in zip(compared, ("prototype", "finetune-all"), strict=True):
        expected = predict(pretrained, support_dir, query_paths, method=method)
        for got, want in zip(compared[label], expected, strict=True):
            assert got["query"] == Path(want["query"]).name
            assert got["predicted"] == want["predicted"]
            for name in SHAPES:
                assert got["probabilities"][name] == pytest.approx(want["probabilities"][name])
    # A query drawn like a class's support images is classified as that class.
    assert [r["predicted"] for r in compared["prototype"]] == list(SHAPES)


def test_classify_uploads_says_what_is_missing(pretrained, uploads):
    support, queries = uploads
    with pytest.raises(ValueError, match="at least two classes"):
        classify_uploads(pretrained, {"bar": support["bar"]}, queries)
    with pytest.raises(ValueError, match="at least one query"):
        classify_uploads(pretrained, support, [])
    with pytest.raises(ValueError, match="not an image"):
        classify_uploads(pretrained, support, [("q.png", b"\x89PNG broken")])


def test_fine_tuning_is_left_out_when_classes_have_different_counts(pretrained, uploads, capsys):
    support, queries = uploads
    support = {**support, "bar": support["bar"][:1]}
    compared, _ = classify_uploads(pretrained, support, queries)
    assert list(compared) == ["prototype"]
    described = METHODS["W = M + entropy + cosine"].describe()
    assert f"W = M + entropy + cosine left out: {described}" in capsys.readouterr().out


def test_the_shipped_example_images(pretrained):
    support_dir, queries = example_folder(EXAMPLE_IMAGES)
    assert len(queries) >= 3 and all(query.suffix == ".jpg" for query in queries)
    files = [path for path in EXAMPLE_IMAGES.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) < 300 * 1024
    assert (EXAMPLE_IMAGES / "README.md").is_file()
    with Image.open(queries[0]) as image:
        assert image.mode == "RGB" and min(image.size) > 28
    compared = compare_methods(pretrained, support_dir, queries, methods=("prototype",))
    results = compared["prototype"]
    assert [Path(r["query"]).stem for r in results] == [query.stem for query in queries]
    assert {Path(q.stem).name for q in queries} <= set(results[0]["probabilities"])


def test_figures(pretrained):
    support_dir, queries = example_folder(EXAMPLE_IMAGES)
    compared = compare_methods(pretrained, support_dir, queries[:2])
    figure = probability_figure(compared)
    assert len(figure.axes) == 2 * (1 + len(compared))
    single = probability_figure(compared["prototype"])
    assert len(single.axes) == 2 * 2
    # the predicted bar is green or red (the queries are named after their class)
    colours = {tuple(round(c, 3) for c in bar.get_facecolor()) for bar in single.axes[1].patches}
    assert len(colours) == 2
    assert len(support_figure(support_dir, queries).axes) >= 5
    assert len(support_figure(support_dir, preprocessing=pretrained.preprocessing).axes) >= 4
    with pytest.raises(ValueError, match="no results"):
        probability_figure([])


def test_the_widget_wires_the_plain_functions(pretrained, uploads):
    ipywidgets = pytest.importorskip("ipywidgets")
    widget = upload_widget(pretrained, methods=("prototype",))
    assert isinstance(widget, ipywidgets.VBox)
    (class_name, class_upload, add), status, (query_upload, classify, start_over), _ = [
        child.children if isinstance(child, ipywidgets.HBox) else child for child in widget.children
    ]
    support, queries = uploads

    def upload(widget, files):
        widget.value = tuple(
            {"name": n, "type": "image/png", "size": len(c), "content": memoryview(c),
             "last_modified": NOW}
            for n, c in files
        )  # fmt: skip

    add.click()
    assert "class name is empty" in status.value
    for shape in SHAPES:
        class_name.value = shape
        upload(class_upload, support[shape])
        add.click()
    assert status.value.endswith("bar (2 images), cross (2 images), ring (2 images)")
    assert class_upload.value == () and class_name.value == ""
    upload(query_upload, queries)
    classify.click()  # draws into the Output widget; must not raise
    start_over.click()
    assert status.value == "support set: empty"


# ----------------------------------------------------------------------------
# ResNet-18 on photos, with random weights and no network
# ----------------------------------------------------------------------------

SMALL = PhotoPreprocessing(resize=40, crop=32)


@pytest.fixture(scope="module")
def random_resnet():
    torch.manual_seed(0)
    return ResNetFeatures()


@pytest.fixture
def photos(tmp_path):
    """A farm of coloured shapes: ``support/{bar,cross,ring}/`` and ``queries/``."""
    folder = tmp_path / "farm"
    colours = {"bar": (230, 180, 190), "cross": (120, 90, 60), "ring": (240, 240, 235)}
    for shape, colour in colours.items():
        (folder / "support" / shape).mkdir(parents=True)
        for shot in range(2):
            draw(shape, 2 * shot, 48, colour).save(folder / "support" / shape / f"{shot}.png")
    (folder / "queries").mkdir()
    draw("ring", 1, 64, colours["ring"]).save(folder / "queries" / "ring.jpg")
    return folder


def test_photo_preprocessing_crops_and_normalises(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (90, 45), (124, 116, 104)).save(path)
    x = SMALL.load(path)
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x, torch.zeros_like(x), atol=0.02)  # ImageNet's mean colour -> 0
    assert PhotoPreprocessing().load(path).shape == (3, 224, 224)


def test_resnet_features_are_the_penultimate_layer(random_resnet, photos):
    paths = sorted((photos / "support").rglob("*.png"))
    features = photo_features(random_resnet, paths, SMALL, batch=4)
    assert features.shape == (len(paths), 512)
    resnet = random_resnet.resnet
    x = SMALL.load_all(paths)
    with torch.no_grad():
        pooled = resnet.avgpool(resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(
            resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))))))).flatten(1)  # fmt: skip
    assert torch.allclose(features, pooled, atol=1e-5)


def test_predict_on_photos_is_the_prototype_classifier(random_resnet, photos):
    support_dir, queries = example_folder(photos)
    results = predict(PhotoBackbone(random_resnet, SMALL), support_dir, queries, scale=10)
    assert len(results) == 1 and set(results[0]["probabilities"]) == set(SHAPES)
    assert sum(results[0]["probabilities"].values()) == pytest.approx(1.0)
    features = {
        shape: photo_features(random_resnet, sorted((support_dir / shape).glob("*")), SMALL)
        for shape in SHAPES
    }
    query = photo_features(random_resnet, queries, SMALL)[0]
    unit = torch.nn.functional.normalize
    M = unit(torch.stack([unit(f).mean(0) for f in features.values()]), dim=-1)
    expected = (10 * M @ unit(query, dim=0)).softmax(0)
    got = torch.tensor([results[0]["probabilities"][shape] for shape in SHAPES])
    assert torch.allclose(got, expected, atol=1e-5)


def test_farm_animals_without_photos_says_so_in_one_line(tmp_path, capsys):
    assert farm_animals(tmp_path / "farm_animals") is None
    output = capsys.readouterr().out
    assert output.count("\n") == 1 and output.startswith("Skipped: no photos yet")
    (tmp_path / "farm_animals" / "support" / "pig").mkdir(parents=True)
    (tmp_path / "farm_animals" / "support" / "cow").mkdir(parents=True)
    draw("bar").save(tmp_path / "farm_animals" / "support" / "pig" / "1.png")
    draw("ring").save(tmp_path / "farm_animals" / "support" / "cow" / "1.png")
    assert farm_animals(tmp_path / "farm_animals") is None
    assert capsys.readouterr().out.startswith("Skipped: no query photo yet")


def test_farm_animals_with_photos(photos, random_resnet, monkeypatch, capsys):
    compared = farm_animals(photos, backbone=PhotoBackbone(random_resnet, SMALL), scale=10)
    assert list(compared) == ["prototype, ResNet-18 features (s = 10)"]
    assert isinstance(probability_figure(compared), Figure)

    def offline(**_):
        raise WeightsUnavailable("cannot reach download.pytorch.org (no network)")

    monkeypatch.setattr(resnet, "load_resnet18", offline)
    assert farm_animals(photos) is None
    output = capsys.readouterr().out
    assert output.count("\n") == 1 and "weights are not available here" in output


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(tmp_path):
    """A local HTTP server holding a random ResNet-18's weights, as download.pytorch.org would."""
    served = tmp_path / "served"
    served.mkdir()
    torch.manual_seed(1)
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    torch.save(model.state_dict(), served / "resnet18-test.pth")

    def handler(*args, **kwargs):
        return _Quiet(*args, directory=str(served), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", model
    server.shutdown()
    server.server_close()


def test_load_resnet18_downloads_once_then_uses_the_cache(weights_server, tmp_path):
    base, model = weights_server
    cache = tmp_path / "cache"
    extractor = load_resnet18(f"{base}/resnet18-test.pth", timeout=5, model_dir=cache)
    assert torch.equal(extractor.resnet.conv1.weight, model.conv1.weight)
    assert (cache / "resnet18-test.pth").is_file()
    # the cached file is used without asking the network (the URL's server is gone)
    again = load_resnet18("http://127.0.0.1:9/resnet18-test.pth", timeout=0.5, model_dir=cache)
    assert torch.equal(again.resnet.conv1.weight, model.conv1.weight)
    with pytest.raises(WeightsUnavailable, match="404"):
        load_resnet18(f"{base}/missing.pth", timeout=5, model_dir=cache)


def test_load_resnet18_gives_up_quickly_offline(tmp_path):
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="cannot reach"):
        load_resnet18("http://127.0.0.1:9/resnet18.pth", timeout=0.5, model_dir=tmp_path)
    # A server that accepts the connection and never answers: the read times out.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/resnet18.pth"
        with pytest.raises(WeightsUnavailable, match="could not get"):
            load_resnet18(url, timeout=0.5, model_dir=tmp_path)
    finally:
        silent.close()
    assert time.perf_counter() - start < 5
