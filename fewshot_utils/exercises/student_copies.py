"""Student copies for workshops: every notebook with its worked solutions emptied.

    python -m fewshot_utils student-copies [--out student_notebooks/] [--clear-outputs]
                                          [notebooks/NN_name.ipynb ...]

Every exercise of the course is a markdown prompt, a cell where the learner writes
an answer, a call to a checker, then the worked **solution** in the next code
cell. A solution cell is marked by the tag ``solution`` in its metadata and/or a
first line ``# Solution`` (see ``CONTRIBUTING.md``, the notebook template). In the copy:

* each solution cell's source becomes :data:`PLACEHOLDER`, its outputs and
  execution count are cleared, and it is no longer collapsed (a collapsed empty
  cell would only puzzle a learner); its ``solution`` tag stays, so the cell is
  still recognisable;
* a markdown cell tagged ``solution`` (a written answer) becomes
  :data:`MARKDOWN_PLACEHOLDER`;
* every other cell is kept as it is: the exercise prompts, the answer cells with
  their placeholders, the checkers, the quizzes.

**Outputs.** By default the outputs of the other cells are kept: the copy reads
like the course (figures, tables and the long pretraining's curves are there
before anything runs, as on GitHub), and none of them shows a solution: the
checker cells were run on the placeholder answers and say "Not answered yet".
``--clear-outputs`` clears every output and execution count instead, for a
workshop where everyone runs everything live.

Write the copies next to ``notebooks/`` (the default ``student_notebooks/`` at
the repository root): the notebooks find their data as ``../data`` and a
learner's own backbone as ``checkpoints/conv4.pt`` relative to their folder, so
a sibling folder works exactly like the original one. The copies are generated:
keep them out of git (``student_notebooks/`` in ``.gitignore``).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from fewshot_utils.paths import NOTEBOOKS, REPOSITORY
from fewshot_utils.storage import write_text_atomically

# nbformat is imported where it is used: loading it (and jsonschema) takes longer than
# the command line needs to reject a bad argument of any other command.

DEFAULT_OUT = REPOSITORY / "student_notebooks"

SOLUTION_TAG = "solution"
SOLUTION_FIRST_LINE = "# Solution"
PLACEHOLDER = "# Your turn: write your solution above and run the checker."
MARKDOWN_PLACEHOLDER = "*The written answer is left out of the student copy: write your own.*"


def _first_code_line(source: str) -> str:
    """The first line that is not blank (leading spaces removed)."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()
    return ""


def is_solution_cell(cell) -> bool:
    """A worked solution: tagged ``solution``, or a code cell whose first line is ``# Solution``.

    ``# Solution`` must be the whole comment's first word (``# Solution``,
    ``# Solution: ...``, ``# solution``), so ``# Solutions of the quiz`` does not count.
    """
    tags = cell.get("metadata", {}).get("tags", [])
    if SOLUTION_TAG in tags:
        return True
    if cell.get("cell_type") != "code":
        return False
    first = _first_code_line(cell.get("source", ""))
    if not first.lower().startswith(SOLUTION_FIRST_LINE.lower()):
        return False
    rest = first[len(SOLUTION_FIRST_LINE) :]
    return rest == "" or not rest[0].isalnum()


def _empty_solution(cell) -> None:
    """Replace a solution cell's content by the placeholder, in place."""
    if cell["cell_type"] == "code":
        cell["source"] = PLACEHOLDER
        cell["outputs"] = []
        cell["execution_count"] = None
    else:
        cell["source"] = MARKDOWN_PLACEHOLDER
        cell.pop("attachments", None)
    metadata = cell.setdefault("metadata", {})
    tags = list(metadata.get("tags", []))
    if SOLUTION_TAG not in tags:
        tags.append(SOLUTION_TAG)
    metadata["tags"] = tags
    jupyter = metadata.get("jupyter", {})
    jupyter.pop("source_hidden", None)
    jupyter.pop("outputs_hidden", None)
    if jupyter:
        metadata["jupyter"] = jupyter
    else:
        metadata.pop("jupyter", None)
    metadata.pop("collapsed", None)  # the classic notebook's flag for hidden outputs


def student_copy(notebook, clear_outputs: bool = False):
    """A copy of ``notebook`` (an ``nbformat`` node) with its solution cells emptied.

    The original is not changed. The copy has the same cells in the same order.
    ``clear_outputs``: also clear every other code cell's outputs and execution count.
    """
    copied = copy.deepcopy(notebook)
    for cell in copied.cells:
        if is_solution_cell(cell):
            _empty_solution(cell)
        elif clear_outputs and cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return copied


def solution_count(notebook) -> int:
    """How many solution cells a notebook has."""
    return sum(is_solution_cell(cell) for cell in notebook.cells)


def write_student_copy(
    source: str | Path, out_dir: str | Path = DEFAULT_OUT, clear_outputs: bool = False
) -> Path:
    """Read ``source``, write its student copy as ``out_dir/<same name>``; return its path.

    The copy is validated with ``nbformat.validate`` before it is written, and written
    whole or not at all (an interrupted run leaves no half notebook).
    """
    import nbformat

    source, out_dir = Path(source), Path(out_dir)
    if source.resolve().parent == out_dir.resolve():
        raise ValueError(
            f"{out_dir} holds the original notebooks: write the student copies to another "
            "folder (e.g. student_notebooks/), or they would overwrite the solutions"
        )
    notebook = nbformat.read(source, as_version=4)
    copied = student_copy(notebook, clear_outputs)
    nbformat.validate(copied)
    text = nbformat.writes(copied)
    return write_text_atomically(
        text if text.endswith("\n") else text + "\n", out_dir / source.name
    )


def course_notebooks(folder: str | Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks ``NN_name.ipynb`` in ``folder``, in order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments: notebooks, ``--out`` and ``--clear-outputs``."""
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="notebooks to copy (default: every notebooks/NN_*.ipynb)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the copies (default: student_notebooks/ beside notebooks/)",
    )
    parser.add_argument(
        "--clear-outputs",
        action="store_true",
        help="clear every output, not only the solutions' (default: keep the others)",
    )


def write_all(notebooks, out: Path = DEFAULT_OUT, clear_outputs: bool = False) -> int:
    """Write the student copy of each of ``notebooks`` (default: all); 0, or 1 if none."""
    import nbformat

    sources = list(notebooks) or course_notebooks()
    if not sources:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    for source in sources:
        target = write_student_copy(source, out, clear_outputs)
        count = solution_count(nbformat.read(source, as_version=4))
        print(f"wrote {target} ({count} solution cell{'s' * (count != 1)} emptied)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fewshot_utils.exercises.student_copies",
        description="Write a copy of every notebook with the solution cells emptied.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return write_all(args.notebooks, args.out, args.clear_outputs)


if __name__ == "__main__":
    sys.exit(main())
