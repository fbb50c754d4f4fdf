"""`python -m fewshot_utils data` and `pretrain` on tiny zips built by the tests."""

import subprocess
import sys

from fewshot_utils.cli import main
from fewshot_utils.models.checkpoints import load_backbone


def test_data_prints_one_line_per_split(tmp_path, tiny_omniglot_zips, capsys):
    code = main(
        ["data", "--dataset", "omniglot", "--data-dir", str(tmp_path), "--zips"]
        + [str(z) for z in tiny_omniglot_zips]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[:2] == [
        "omniglot background: 3 alphabets, 6 classes, 120 images",
        "omniglot evaluation: 2 alphabets, 4 classes, 80 images",
    ]


def test_data_without_omniglot_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from torchvision.datasets import Omniglot

    monkeypatch.setattr(Omniglot, "download_url_prefix", "http://127.0.0.1:9")
    code = main(["data", "--dataset", "omniglot", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "error: Omniglot's background split cannot be had" in capsys.readouterr().err


def test_pretrain_writes_a_loadable_checkpoint(tmp_path, tiny_omniglot_zips, capsys):
    out = tmp_path / "ckpt" / "conv4.pt"
    zips = [str(z) for z in tiny_omniglot_zips]
    arguments = ["pretrain", "--dataset", "omniglot", "--data-dir", str(tmp_path), "--zips", *zips]
    code = main([*arguments, "--epochs", "2", "--seed", "3", "--out", str(out)])
    assert code == 0 and "checkpoint written to" in capsys.readouterr().out
    loaded = load_backbone(out)
    assert [row["epoch"] for row in loaded.history] == [1, 2]
    assert loaded.meta["config"]["seed"] == 3 and loaded.meta["num_classes"] == 6
    assert loaded.meta["command"].startswith("python -m fewshot_utils pretrain --dataset omniglot")


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "fewshot_utils", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("data", "pretrain", "evaluate", "benchmark", "predict"):
        assert command in result.stdout


def test_predict_says_what_its_numbers_mean(capsys):
    """The lecture's s = 1 gives near-uniform probabilities: a note names --scale; a
    transductive method's answers depend on the other queries: a note says so."""
    from fewshot_utils.paths import EXAMPLE_IMAGES

    queries = [str(path) for path in sorted((EXAMPLE_IMAGES / "queries").glob("*.jpg"))]
    support = str(EXAMPLE_IMAGES / "support")
    assert main(["predict", "--support", support, "--query", *queries]) == 0
    out = capsys.readouterr().out
    assert "note: the probabilities are close to 1/4" in out and "--scale 10" in out
    assert "transductive" not in out
    assert main(["predict", "--support", support, "--query", *queries, "--scale", "10"]) == 0
    out = capsys.readouterr().out
    assert "close to 1/4" not in out  # sharper: no note
    assert (
        main(["predict", "--support", support, "--query", *queries, "--method", "finetune-all"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"looked at all {len(queries)} queries together" in out
