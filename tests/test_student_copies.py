"""Student copies: the solution cells are emptied, everything else stays, the copies still open."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from fewshot_utils.exercises.student_copies import (
    MARKDOWN_PLACEHOLDER,
    PLACEHOLDER,
    course_notebooks,
    is_solution_cell,
    main,
    student_copy,
    write_student_copy,
)

HIDDEN = {"jupyter": {"source_hidden": True}, "tags": ["solution"]}


def exercise_notebook():
    """An exercise as the conventions lay it out, plus the other ways to mark a solution."""
    cells = [
        new_markdown_cell("# Title\n\n**Exercise.** Write `double(x)`."),
        new_code_cell("def double(x):\n    return None  # your code here", execution_count=1),
        new_code_cell(
            "check_double(double)",
            execution_count=2,
            outputs=[new_output("stream", name="stdout", text="⏳ Not answered yet\n")],
        ),
        new_code_cell(
            "# Solution\ndef double(x):\n    return 2 * x\n\ncheck_double(double)",
            metadata=HIDDEN,
            execution_count=3,
            outputs=[new_output("stream", name="stdout", text="✅ Correct! secret_output\n")],
        ),
        new_code_cell("# Solution: tagged by its first line only\nanswer = 42", execution_count=4),
        new_code_cell("halve = lambda x: x / 2", metadata={"tags": ["solution"]}),
        new_code_cell("# Solutions of the quiz are below (not a solution cell)\nprint(1)"),
        new_markdown_cell("The answer is *Paris*.", metadata={"tags": ["solution"]}),
        new_markdown_cell("## Quiz\n<details><summary>Answers</summary>1. b</details>"),
    ]
    notebook = new_notebook(cells=cells)
    nbformat.validate(notebook)
    return notebook


def test_solution_cells_are_found_by_tag_or_first_line():
    cells = exercise_notebook().cells
    assert [is_solution_cell(cell) for cell in cells] == [
        False, False, False, True, True, True, False, True, False,
    ]  # fmt: skip


def test_the_copy_empties_solutions_and_keeps_the_rest():
    original = exercise_notebook()
    copied = student_copy(original)
    nbformat.validate(copied)
    assert len(copied.cells) == len(original.cells)
    for before, after in zip(original.cells, copied.cells, strict=True):
        if not is_solution_cell(before):
            assert after == before  # prompts, answer cells, checkers, quiz: untouched
            continue
        assert "solution" in after.metadata["tags"]
        assert "source_hidden" not in after.metadata.get("jupyter", {})
        if after.cell_type == "code":
            assert after.source == PLACEHOLDER
            assert after.outputs == [] and after.execution_count is None
        else:
            assert after.source == MARKDOWN_PLACEHOLDER
    text = nbformat.writes(copied)
    for secret in ("return 2 * x", "secret_output", "answer = 42", "halve", "Paris"):
        assert secret not in text
    # the checker's output on the placeholder answer stays; the original is unchanged
    assert copied.cells[2].outputs[0].text == "⏳ Not answered yet\n"
    assert "return 2 * x" in original.cells[3].source


def test_clear_outputs_clears_every_output():
    copied = student_copy(exercise_notebook(), clear_outputs=True)
    for cell in copied.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_the_command_writes_valid_copies(tmp_path, capsys):
    source = tmp_path / "notebooks" / "01_exercise.ipynb"
    source.parent.mkdir()
    nbformat.write(exercise_notebook(), source)
    out = tmp_path / "student_notebooks"
    assert main([str(source), "--out", str(out)]) == 0
    assert "4 solution cells emptied" in capsys.readouterr().out
    copied = nbformat.read(out / source.name, as_version=4)
    nbformat.validate(copied)
    assert copied.cells[3].source == PLACEHOLDER
    with pytest.raises(ValueError, match="overwrite the solutions"):
        write_student_copy(source, source.parent)


def _solution_only_lines(notebook) -> set[str]:
    """Lines of solution cells that no other cell of the notebook has (the solution's own code)."""
    elsewhere = {
        line.strip()
        for cell in notebook.cells
        if not is_solution_cell(cell)
        for line in cell.source.splitlines()
    }
    lines = set()
    for cell in notebook.cells:
        if is_solution_cell(cell):
            for line in cell.source.splitlines():
                line = line.strip()
                if len(line) > 3 and not line.startswith("#") and line not in elsewhere:
                    lines.add(line)
    return lines


REAL_NOTEBOOKS = course_notebooks()


@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="no course notebooks yet")
@pytest.mark.parametrize("path", REAL_NOTEBOOKS, ids=lambda path: Path(path).name)
def test_real_notebooks_copies_hold_no_solution_code(path, tmp_path):
    original = nbformat.read(path, as_version=4)
    target = write_student_copy(path, tmp_path)
    copied = nbformat.read(target, as_version=4)
    nbformat.validate(copied)
    assert len(copied.cells) == len(original.cells)
    for before, after in zip(original.cells, copied.cells, strict=True):
        if is_solution_cell(before):
            assert after.source in (PLACEHOLDER, MARKDOWN_PLACEHOLDER)
            assert after.get("outputs", []) == []
        else:
            assert after == before
    copied_lines = {line.strip() for cell in copied.cells for line in cell.source.splitlines()}
    leaked = _solution_only_lines(original) & copied_lines
    assert not leaked, f"solution lines left in the copy: {sorted(leaked)}"


def _names(source: str, context) -> set[str]:
    """Names a cell stores (assignments, defs, imports) or loads; magics are skipped."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, context):
            found.add(node.id)
        elif context is ast.Store and isinstance(node, ast.FunctionDef | ast.ClassDef):
            found.add(node.name)
        elif context is ast.Store and isinstance(node, ast.Import | ast.ImportFrom):
            found |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return found


def _needs_solutions(notebook) -> set[str]:
    """Names that only solution cells define but other cells use: the copy would fail there."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    others = [cell for cell in code if not is_solution_cell(cell)]
    defined = set().union(*(_names(cell.source, ast.Store) for cell in others))
    used = set().union(*(_names(cell.source, ast.Load) for cell in others))
    solutions = [cell for cell in code if is_solution_cell(cell)]
    only_solutions = set().union(set(), *(_names(c.source, ast.Store) for c in solutions))
    return (only_solutions - defined) & used


def test_a_later_cell_needing_a_solution_only_name_is_found():
    notebook = exercise_notebook()
    notebook.cells.append(new_code_cell("print(halve(4))"))
    assert _needs_solutions(notebook) == {"halve"}


@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="no course notebooks yet")
@pytest.mark.parametrize("path", REAL_NOTEBOOKS, ids=lambda path: Path(path).name)
def test_real_notebooks_copies_still_run_without_the_solutions(path):
    """Every name a later cell uses is defined outside the solutions (by the answer cell)."""
    needed = _needs_solutions(nbformat.read(path, as_version=4))
    assert not needed, f"cells use names only a solution defines: {sorted(needed)}"
