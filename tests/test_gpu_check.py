"""benchmarks/gpu_check.py runs where there is no GPU, with --device cpu (both sides)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from tests.test_folder_dataset import make_folder_dataset

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_runs_on_the_cpu_and_both_columns_agree(tmp_path, capsys):
    folder = make_folder_dataset(tmp_path / "mine", {"background": 5, "evaluation": 5})
    out = tmp_path / "check.json"
    arguments = ["--device", "cpu", "--dataset", f"folder:{folder}"]
    arguments += ["--data-dir", str(tmp_path / "data"), "--episodes", "20", "--queries", "3"]
    arguments += ["--settings", "5x1", "--methods", "prototype", "finetune-all"]
    arguments += ["--json", str(out)]
    assert load_script().main(arguments) == 0
    printed = capsys.readouterr().out
    assert "the devices agree within their 95% intervals" in printed
    assert "pretraining seconds" in printed and "5-way 1-shot W = M + entropy + cosine" in printed
    reference, other = json.loads(out.read_text())
    # The same device twice: the same episodes, seeds and arithmetic, so the same numbers.
    for key in ("benchmark", "pretraining"):
        if key == "benchmark":
            drop = [{k: v for k, v in row.items() if k != "seconds"} for row in reference[key]]
            assert drop == [{k: v for k, v in row.items() if k != "seconds"} for row in other[key]]
        else:
            assert reference[key] == other[key]
