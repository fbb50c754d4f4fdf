"""Your own dataset, ``folder:PATH``: loading, caching, clear errors, the commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fewshot_utils.cli import main
from fewshot_utils.data import folder_dataset
from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.models.checkpoints import load_backbone
from tests.conftest import draw_character


def make_folder_dataset(
    folder: Path,
    splits: dict[str, int] | None = None,
    per_class: int = 8,
    size: int = 40,
    seed: int = 0,
) -> Path:
    """``folder/<split>/class<NN>/<i>.png``: dark strokes on white paper, like scans; one
    class's drawings share their strokes. ``splits``: classes per split."""
    splits = splits or {"background": 6, "evaluation": 5}
    number = seed
    for split, classes in splits.items():
        for c in range(classes):
            number += 1
            target = folder / split / f"class{c:02d}"
            target.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                image = draw_character(number, i, size=size).convert("L")
                image.save(target / f"{i:02d}.png" if i % 3 else target / f"{i:02d}.jpg")
    return folder


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def test_a_folder_dataset_loads_like_the_others(tmp_path, data_dir):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 4, "evaluation": 3})
    (folder / "background" / ".ipynb_checkpoints").mkdir()  # hidden: skipped
    (folder / "background" / "class00" / "notes.txt").write_text("not an image")
    dataset = load_dataset(f"folder:{folder}", root=data_dir)
    assert dataset.name == "folder-mine" and dataset.validation is None
    background = dataset.background
    assert background.images.shape == (32, 28, 28) and background.images.dtype == torch.uint8
    assert background.class_names == [f"class{c:02d}" for c in range(4)]
    assert torch.equal(background.labels, torch.arange(4).repeat_interleave(8))
    # Dark strokes on paper became bright strokes on a dark background, as in Omniglot.
    assert background.images.float().mean() < 60
    assert background.images[:, 0, :].float().mean() < 10  # the border is dark
    assert dataset.describe().splitlines() == [
        "folder-mine background: 4 classes, 32 images",
        "folder-mine evaluation: 3 classes, 24 images",
    ]


def test_the_validation_split_is_optional(tmp_path, data_dir):
    folder = make_folder_dataset(
        tmp_path / "mine", {"background": 3, "evaluation": 2, "validation": 2}, per_class=3
    )
    dataset = load_dataset(f"folder:{folder}", root=data_dir)
    assert dataset.validation.num_classes == 2 and dataset.split("validation").split == "validation"


def test_splits_are_cached_until_a_file_changes(tmp_path, data_dir, monkeypatch):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 3, "evaluation": 2})
    first = load_dataset(f"folder:{folder}", root=data_dir)
    (cache,) = (data_dir / "folders").iterdir()  # one folder per dataset, one file per split
    assert cache.name.startswith("folder-mine-")
    assert sorted(path.name for path in cache.iterdir()) == [
        "background-28px.pt",
        "evaluation-28px.pt",
    ]

    def no_reading(*args, **kwargs):
        raise AssertionError("read an image although the cache is up to date")

    monkeypatch.setattr(folder_dataset, "load_image", no_reading)
    again = load_dataset(f"folder:{folder}", root=data_dir)
    assert torch.equal(first.background.images, again.background.images)
    monkeypatch.undo()
    extra = folder / "evaluation" / "class00" / "99.png"
    draw_character(7, 1).save(extra)
    changed = load_dataset(f"folder:{folder}", root=data_dir)
    assert len(changed.evaluation) == len(first.evaluation) + 1


def test_clear_errors_for_a_wrong_folder(tmp_path, data_dir):
    with pytest.raises(ValueError, match=r"dataset folder .*nowhere does not exist: give a folder"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}", root=data_dir)
    folder = make_folder_dataset(tmp_path / "mine", {"background": 3}, per_class=2)
    with pytest.raises(ValueError, match=r"has no evaluation/ \(its sub-folders: background/\)"):
        load_dataset(f"folder:{folder}", root=data_dir)
    (folder / "evaluation").mkdir()
    with pytest.raises(ValueError, match=r"the evaluation split folder .* has 0 class sub-folder"):
        load_dataset(f"folder:{folder}", root=data_dir)
    (folder / "evaluation" / "fox").mkdir()
    (folder / "evaluation" / "owl").mkdir()
    draw_character(1, 1).save(folder / "evaluation" / "fox" / "1.png")
    with pytest.raises(ValueError, match=r"class folder .*owl has no images"):
        load_dataset(f"folder:{folder}", root=data_dir)


def test_an_unreadable_image_is_named(tmp_path, data_dir):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 2, "evaluation": 2}, per_class=2)
    broken = folder / "background" / "class01" / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    with pytest.raises(ValueError, match=r"cannot read image .*class01/broken\.png"):
        load_dataset(f"folder:{folder}", root=data_dir)


def test_too_few_images_for_the_episodes_names_the_class(tmp_path, data_dir, capsys):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 3, "evaluation": 3}, per_class=6)
    for path in sorted((folder / "evaluation" / "class02").iterdir())[2:]:
        path.unlink()
    checkpoint = tmp_path / "b.pt"
    common = ["--dataset", f"folder:{folder}", "--data-dir", str(data_dir), "--device", "cpu"]
    assert main(["pretrain", *common, "--epochs", "1", "--out", str(checkpoint)]) == 0
    capsys.readouterr()
    code = main(["evaluate", "--checkpoint", str(checkpoint), *common, "--queries", "3"])
    error = capsys.readouterr().err
    assert code == 2
    assert "1-shot episodes with 3 queries per class: 4 images per class are needed" in error
    assert "'class02' (2)" in error and "the smallest class has 2" in error
    # Pretraining holds out 4 images per class by default: a class of 3 cannot give them.
    for path in sorted((folder / "background" / "class01").iterdir())[3:]:
        path.unlink()
    assert main(["pretrain", *common, "--epochs", "1", "--out", str(checkpoint)]) == 2
    error = capsys.readouterr().err
    assert "holding out 4 validation images per class" in error
    assert "5 images per class are needed" in error and "'class01' (3)" in error


def test_an_unknown_dataset_is_refused_by_the_command_line(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--dataset", "imagenet"])
    assert "invalid choice 'imagenet': choose one of auto, omniglot, glyphs or folder:PATH" in (
        capsys.readouterr().err
    )


def test_data_pretrain_benchmark_end_to_end(tmp_path, data_dir, capsys):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 6, "evaluation": 5})
    common = ["--dataset", f"folder:{folder}", "--data-dir", str(data_dir)]
    assert main(["data", *common]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "folder-mine background: 6 classes, 48 images",
        "folder-mine evaluation: 5 classes, 40 images",
    ]
    checkpoint = tmp_path / "mine.pt"
    arguments = ["--epochs", "2", "--batch-size", "16", "--validation-per-class", "2"]
    assert main(["pretrain", *common, *arguments, "--out", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Device: the CPU (auto: no CUDA GPU or Apple MPS found)\n")
    assert "checkpoint written to" in out
    pretrained = load_backbone(checkpoint)
    assert pretrained.meta["dataset"] == "folder-mine" and pretrained.meta["num_classes"] == 6
    assert pretrained.meta["processes"] == 1 and pretrained.meta["device"] == "cpu"
    table = tmp_path / "results.json"
    benchmark = ["benchmark", "--checkpoint", str(checkpoint), *common, "--episodes", "20"]
    settings = ["--settings", "5x1", "3x2", "--queries", "5", "--methods", "prototype"]
    assert main([*benchmark, *settings, "finetune-all", "--json", str(table)]) == 0
    rows = json.loads(table.read_text())
    assert [(row["ways"], row["shots"], row["method"]) for row in rows] == [
        (5, 1, "prototype"),
        (5, 1, "W = M + entropy + cosine"),
        (3, 2, "prototype"),
        (3, 2, "W = M + entropy + cosine"),
    ]
    assert all(0 <= row["accuracy"] <= 100 and row["episodes"] == 20 for row in rows)
