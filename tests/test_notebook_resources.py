"""benchmarks/notebook_resources.py: saved tqdm bars show their final state, not 0%."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "notebook_resources.py"
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def load_script():
    spec = importlib.util.spec_from_file_location("notebook_resources", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


resources = load_script()


def model(name: str, **state) -> dict:
    module = "@jupyter-widgets/base" if name == "LayoutModel" else "@jupyter-widgets/controls"
    return {"_model_name": name, "_model_module": module, "_model_module_version": "2.0.0"} | state


def tqdm_bar(prefix: str, left: str, value: float, maximum: float, right: str, **box_layout):
    """The widget state tqdm.notebook leaves behind (as nbclient records it), for one bar
    whose HBox has the model id ``prefix``."""

    def ref(model_id: str) -> str:
        return f"IPY_MODEL_{model_id}"

    return {
        prefix: model(
            "HBoxModel",
            children=[ref(f"{prefix}-l"), ref(f"{prefix}-p"), ref(f"{prefix}-r")],
            layout=ref(f"{prefix}-layout"),
        ),
        f"{prefix}-layout": model("LayoutModel", visibility=None) | box_layout,
        f"{prefix}-l": model("HTMLModel", value=left, layout=ref(f"{prefix}-l-layout")),
        f"{prefix}-l-layout": model("LayoutModel"),
        f"{prefix}-p": model(
            "FloatProgressModel",
            value=value,
            min=0.0,
            max=maximum,
            bar_style="success",
            style=ref(f"{prefix}-p-style"),
        ),
        f"{prefix}-p-style": model("ProgressStyleModel", bar_color=None),
        f"{prefix}-r": model("HTMLModel", value=right),
    }


def view(model_id: str, text: str = "demo:   0%|          | 0/3 [00:00<?, ?it/s]"):
    return nbformat.v4.new_output(
        "display_data",
        data={
            "text/plain": text,
            VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
        },
    )


# What tqdm.notebook writes: spaces as U+2007 (figure space), HTML escaped.
DONE = tqdm_bar(
    "done", "demo:\u2007100%", 3.0, 3.0, "\u20073/3\u2007[00:00&lt;00:00,\u2007442.51it/s]"
)


def test_final_text_of_a_finished_bar():
    text = resources.tqdm_final_text(DONE, view("done"))
    assert text == "demo: 100%|██████████| 3/3 [00:00<00:00, 442.51it/s]"
    ascii_text = resources.tqdm_final_text(DONE, view("done"), ascii_bar=True)
    assert ascii_text == "demo: 100%|##########| 3/3 [00:00<00:00, 442.51it/s]"


def test_final_text_of_a_stopped_bar_and_nbsp():
    state = tqdm_bar("stopped", "fit:&nbsp;\u200740%", 4, 10, "\u20074/10\u2007[00:01&lt;00:01]")
    text = resources.tqdm_final_text(state, view("stopped"), ascii_bar=True)
    assert text == "fit:  40%|####      | 4/10 [00:01<00:01]"


def test_hidden_bar_leave_false_gives_empty_text():
    state = tqdm_bar("gone", "\u2007\u20070%", 4.0, 4.0, "\u20070/4", visibility="hidden")
    assert resources.tqdm_final_text(state, view("gone")) == ""


def test_other_outputs_are_not_bars():
    slider = {"s": model("IntSliderModel", value=3)}
    box = {"b": model("HBoxModel", children=["IPY_MODEL_s"])} | slider
    assert resources.tqdm_final_text(slider, view("s")) is None
    assert resources.tqdm_final_text(box, view("b")) is None
    assert resources.tqdm_final_text(DONE, view("unknown")) is None
    stream = nbformat.v4.new_output("stream", name="stdout", text="hi\n")
    assert resources.tqdm_final_text(DONE, stream) is None
    image = nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"})
    assert resources.tqdm_final_text(DONE, image) is None


def test_finish_progress_bars_and_referenced_models():
    state = DONE | {"s": model("IntSliderModel", value=3, layout="IPY_MODEL_s-layout")}
    state["s-layout"] = model("LayoutModel")
    notebook = new_notebook(cells=[new_code_cell("x", outputs=[view("done"), view("s", "slider")])])
    assert resources.finish_progress_bars(notebook, state) == ["done"]
    texts = [output["data"]["text/plain"] for output in notebook.cells[0].outputs]
    assert texts == [
        "demo: 100%|██████████| 3/3 [00:00<00:00, 442.51it/s]",
        resources.INTERACTIVE_WIDGET_TEXT,  # not the widget's repr
    ]
    assert notebook.cells[0].outputs[0]["data"][VIEW]["model_id"] == "done"
    assert resources.referenced_models(state, ["done"]) == set(DONE)
    nbformat.validate(notebook)


def test_run_writes_final_bars(tmp_path):
    """End to end: a two-cell notebook run in a fresh kernel and written in place."""
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipykernel")
    path = tmp_path / "demo.ipynb"
    code = "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='demo'):\n    pass"
    notebook = new_notebook(cells=[new_code_cell(code), new_code_cell("print('no bar')")])
    notebook.metadata["widgets"] = {STATE: {"state": {"stale": {}}}}  # from an earlier run
    nbformat.write(notebook, path)
    start = time.perf_counter()
    resources.run(path, write=True)
    assert time.perf_counter() - start < 30
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    (bar,) = saved.cells[0].outputs
    text = bar["data"]["text/plain"]
    assert text.startswith("demo: 100%|██████████| 3/3 [") and text.endswith("it/s]")
    state = saved.metadata["widgets"][STATE]["state"]
    box = state[bar["data"][VIEW]["model_id"]]
    assert box["model_name"] == "HBoxModel"
    assert "stale" not in state
    assert {entry["model_name"] for entry in state.values()} >= {"HTMLModel", "FloatProgressModel"}
