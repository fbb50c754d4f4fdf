"""Run notebooks top to bottom in fresh kernels; print wall time and peak kernel memory.

    python benchmarks/notebook_resources.py [notebooks/NN_*.ipynb ...] [--write]

Peak memory is the kernel process's high-water mark (``VmHWM`` in
``/proc/<pid>/status``, Linux), read just before the kernel shuts down. With
``--write`` the executed notebooks (with their outputs) are saved in place, which is
how the committed outputs are made. Prints a Markdown table for the README.

A tqdm bar in a notebook is an ipywidget whose saved ``text/plain`` fallback (what
GitHub shows) is the bar as it was *displayed*, at 0%. With ``--write`` each bar's
fallback is replaced by its final state, read from the widget state that nbclient
records, and that state (for the bars only) is saved in the notebook metadata so
JupyterLab and nbviewer can draw the finished widget too.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from tqdm.std import Bar

ROOT = Path(__file__).resolve().parent.parent


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = "IPY_MODEL_"
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


def _model(widget_state: Mapping[str, Mapping[str, Any]], ref: Any) -> Mapping[str, Any]:
    """The state of the model that ``ref`` ("IPY_MODEL_<id>" or a bare id) names, or {}."""
    if not isinstance(ref, str):
        return {}
    return widget_state.get(ref.removeprefix(MODEL_REF), {})


def _html_text(value: Any) -> str:
    """An HTML widget's value as plain text: entities unescaped, tqdm's figure spaces
    (U+2007, which it uses instead of spaces) and no-break spaces made plain spaces."""
    text = html.unescape(str(value or ""))
    return text.replace("\u2007", " ").replace("\xa0", " ")


def tqdm_final_text(
    widget_state: Mapping[str, Mapping[str, Any]],
    output: Mapping[str, Any],
    ascii_bar: bool = False,
) -> str | None:
    """The final state of a tqdm progress bar output as one line of text, or None.

    ``widget_state`` maps model id -> that model's (latest) state, as nbclient's
    ``NotebookClient.widget_state`` holds it after execution. ``output`` is a notebook
    output; it is a tqdm bar when it is a widget view of an HBoxModel whose three
    children are HTMLModel, FloatProgressModel or IntProgressModel, HTMLModel (the layout
    of ``tqdm.notebook``). Anything else gives None.

    The text is tqdm's own: left HTML + "|" + bar drawn from the progress value, min and
    max + "|" + right HTML, e.g. ``"demo: 100%|██████████| 3/3 [00:00<00:00, 442.51it/s]"``
    (``ascii_bar=True`` draws ``##########``). A bar whose box tqdm hid when it closed
    (``leave=False``: layout visibility "hidden") gives "", as a live notebook shows
    nothing there, and tqdm does not refresh such a bar's texts when it closes.
    """
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    view = output.get("data", {}).get(WIDGET_VIEW)
    if not isinstance(view, Mapping):
        return None
    box = _model(widget_state, view.get("model_id"))
    children = box.get("children")
    if box.get("_model_name") != "HBoxModel" or not isinstance(children, list):
        return None
    if len(children) != 3:
        return None
    left, progress, right = (_model(widget_state, child) for child in children)
    names = (left.get("_model_name"), progress.get("_model_name"), right.get("_model_name"))
    if names[0] != "HTMLModel" or names[1] not in PROGRESS_MODELS or names[2] != "HTMLModel":
        return None
    if _model(widget_state, box.get("layout")).get("visibility") == "hidden":
        return ""
    low, high = float(progress.get("min") or 0), float(progress.get("max") or 0)
    value = float(progress.get("value") or 0)
    fraction = 1.0 if high <= low else min(max((value - low) / (high - low), 0.0), 1.0)
    bar = Bar(fraction, charset=Bar.ASCII if ascii_bar else Bar.UTF)
    return f"{_html_text(left.get('value'))}|{bar}|{_html_text(right.get('value'))}"


#: What GitHub shows in place of an interactive widget (its ``text/plain`` fallback),
#: instead of the widget's repr, ``VBox(children=(HBox(children=(...``.
INTERACTIVE_WIDGET_TEXT = "[interactive widget: it runs in Jupyter, not on a static page]"


def finish_progress_bars(
    notebook: nbformat.NotebookNode, widget_state: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Replace the ``text/plain`` of every tqdm bar output in ``notebook`` by the bar's
    final text (``tqdm_final_text``), and that of every other widget by
    :data:`INTERACTIVE_WIDGET_TEXT`; the widget views stay. Returns the bars' model ids."""
    bars = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = tqdm_final_text(widget_state, output)
            if text is not None:
                output["data"]["text/plain"] = text
                bars.append(output["data"][WIDGET_VIEW]["model_id"])
            elif WIDGET_VIEW in output.get("data", {}):
                output["data"]["text/plain"] = INTERACTIVE_WIDGET_TEXT
    return bars


def referenced_models(
    widget_state: Mapping[str, Mapping[str, Any]], model_ids: Iterable[str]
) -> set[str]:
    """``model_ids`` and every model their states name ("IPY_MODEL_<id>"), transitively:
    the models a frontend needs to draw those widgets."""
    found: set[str] = set()
    todo = [model_id for model_id in model_ids if model_id in widget_state]
    while todo:
        model_id = todo.pop()
        if model_id in found:
            continue
        found.add(model_id)
        values = list(widget_state[model_id].values())
        while values:
            value = values.pop()
            if isinstance(value, str) and value.startswith(MODEL_REF):
                if value.removeprefix(MODEL_REF) in widget_state:
                    todo.append(value.removeprefix(MODEL_REF))
            elif isinstance(value, Mapping):
                values.extend(value.values())
            elif isinstance(value, list):
                values.extend(value)
    return found


def save_progress_bar_state(client: NotebookClient, bars: Iterable[str]) -> None:
    """Keep in ``client.nb.metadata.widgets`` the widget state of the progress bars only.

    nbclient's ``set_widgets_metadata`` (which ``NotebookClient.execute`` calls, and this
    script, running cells one by one, would not) saves every widget; the course's
    interactive widgets would carry their Output widgets' figures into the metadata, so
    the state is cut down to the bars and the models they use. Without bars any stale
    state from an earlier run is removed."""
    client.nb.metadata.pop("widgets", None)
    client.set_widgets_metadata()
    keep = referenced_models(client.widget_state, bars)
    widgets = client.nb.metadata.get("widgets")
    if not keep or widgets is None:
        client.nb.metadata.pop("widgets", None)
        return
    state = widgets[WIDGET_STATE]["state"]
    widgets[WIDGET_STATE]["state"] = {key: value for key, value in state.items() if key in keep}


def run(path: Path, write: bool) -> tuple[float, float]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        memory = peak_memory_mb(client.km.provisioner.pid)
    if write:
        save_progress_bar_state(client, finish_progress_bars(notebook, client.widget_state))
        nbformat.validate(notebook)
        nbformat.write(notebook, path)
    return seconds, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="save outputs in place")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    rows, total = [], 0.0
    for path in paths:
        seconds, memory = run(path, args.write)
        total += seconds
        rows.append(f"| {path.name} | {seconds:.0f} s | {memory:.0f} MB |")
        print(rows[-1], flush=True)
    print("\n| notebook | wall time | peak kernel memory |\n|---|---|---|")
    print("\n".join(rows))
    print(f"| **all** | **{total / 60:.1f} min** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
