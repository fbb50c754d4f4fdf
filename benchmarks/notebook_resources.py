"""Run notebooks top to bottom in fresh kernels; print wall time and peak kernel memory.

    python benchmarks/notebook_resources.py [notebooks/NN_*.ipynb ...] [--write]

Peak memory is the kernel process's high-water mark (``VmHWM`` in
``/proc/<pid>/status``, Linux), read just before the kernel shuts down. With
``--write`` the executed notebooks (with their outputs) are saved in place, which is
how the committed outputs are made. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
