"""The notebooks as committed files: static checks of their text and outputs, no kernel.

Four checks, each a test parametrised per notebook (ids are the notebook names):

1. ``test_quoted_decimals_are_on_screen``: every decimal number a markdown cell quotes is
   shown by an output of the same notebook.
2. ``test_no_correct_checker_output_before_solutions``, ``test_no_solution_cell_before_solutions``:
   the exercises do not give their answers away before the notebook's "Solutions" heading.
3. ``test_first_import_is_the_package``: the package (whose ``__init__`` sets
   ``OMP_WAIT_POLICY`` before torch loads) is the notebook's first import.
4. ``test_at_most_five_package_modules``: a notebook imports from at most 5 package modules.

The ``test_rule_*`` tests at the end pin the rules below on small made-up notebooks.

Check 1 in detail
-----------------
*Which numbers.* Decimals only: digits, a decimal point, digits (``97.56``, ``0.35``,
``+2.03``, the ``1.5`` of ``1.5x``, the ``82.4`` of ``82.4%``; thousands separators allowed).
Integers are not checked: they are counts, settings and notebook numbers far more often than
results. A ``+``, ``-`` or ``−`` right in front is the number's sign unless it is glued to a
letter or digit (``99.3-99.5`` is two unsigned numbers). A number glued to a letter, digit,
dot or comma in front (``v1.2``) and dotted versions (``3.10.2``) are not numbers.

*On screen* means in the text Jupyter shows for an output of any code cell of the same
notebook: stream text; for a rich output its text/html (tags removed), text/markdown and
text/latex, or else its text/plain when it has no image (a figure's ``<Figure size ...>`` is
not shown; a widget's text/plain is its static fallback and counts). Error outputs do not
count. Numbers drawn in figures cannot be read, so they do not count: quote a figure's
numbers only if a cell prints them too.

*Matching.* A quoted decimal with k decimals matches an output number that has at least k
decimals and rounds to it at k decimals (half up or half to even): ``97.56`` matches
``97.56``; ``97.6`` matches ``97.56`` or ``97.60``; ``97.56`` does not match ``97.6`` (the
text may not claim more digits than the output shows). A signed quote needs the same
explicit sign in the output (``-0.54`` needs ``-0.54``, ``+2.03`` needs ``+2.03``: a sign
marks a difference, the package prints differences with theirs, and an interval's ``± 2.03``
is another number); an unsigned quote matches either sign ("loses by 0.54" for ``-0.54``).
Thousands separators are ignored, ``−`` is ``-``, and a ``%`` after the number is not part of
it. Any output of the notebook will do, so a match can be a coincidence, above all for a
quote with one decimal (``0.2`` matches every output from 0.15 to 0.25 with two decimals).

*Units.* A unit of markdown is a heading, a table row, a list item with its continuation
lines, or one sentence of a paragraph (blockquotes too). Exemptions (a), (c), (d) apply to
units.

Exemptions, the whole list:

(a) *Citations.* A unit that cites a source: a year 1950-2049 after a capitalised word, a
    venue or "et al." (``Lake et al. 2015``, ``Koch et al. (2015)``, ``NeurIPS 2017``,
    ``Grandvalet and Bengio 2005``), or in parentheses (``Tenenbaum (2015).``), or after a
    closing parenthesis (``Science 350(6266), 2015``). A year is required: "Koch et al.
    report 92.0%" is not exempt until it says "Koch et al. (2015)". (Loose on one side: a
    sentence that starts "In 2019" counts as citing.) A table whose header row
    cites a source is exempt as a whole (the header is its caption: "| method (Dhillon et
    al. 2020) | ... |"). In a paragraph the unit is the sentence, so a citation in one
    sentence does not cover the numbers of the next.
(b) *Math and code.* Numbers inside LaTeX math (``$...$``, ``$$...$$``) and inside inline
    code or fenced code blocks. In these notebooks math holds formulas, constants, settings
    and hand-worked arithmetic (``$\\ln 964 \\approx 6.87$``, ``$\\lambda = 0.1$``,
    ``$1.96 \\cdot \\mathrm{std}$``, ``$\\sqrt{0.3^2 + 0.4^2} = 0.5$``), and code holds
    commands and identifiers; checking them would flag arithmetic, not stale results. The
    price: a run's result written as math escapes the check, so write results as prose,
    not as math. (The one such case today: notebook 03, cell 12, ``$a \\cdot b = 5.30$``,
    read off a figure title.)
(c) *Quiz sections.* Everything under a heading containing "Quiz", up to the next heading
    of the same or a higher level: a quiz poses made-up cases ("One method gets 97.0 ± 0.4 %
    and another 97.3 ± 0.4 %") and its answers work through them.
(d) *The allow-list* ``tests/notebook_fidelity_allow.txt``: a few regular expressions for
    settings and constants that are not results of a run, each with its reason. A decimal
    inside a match of one of them in its unit is not checked.

Check 2: before the first markdown heading containing the word "Solutions" (or anywhere, if
there is none), no output of a code cell may contain the checkers' success marker ✅ (they
print "✅ Correct! ..." for a right answer, "⏳ Not answered yet" otherwise), and no cell may
be a solution: tagged ``solution``, or a code cell whose first non-blank line is
``# Solution``.

Check 3: the notebook's first import statement (cells in order, statements in source order,
IPython magic and shell lines skipped) must import from ``fewshot_utils``. The failure lists
every import before it, marking torch, numpy, matplotlib and similar as heavy.

Check 4: over all code cells, ``from fewshot_utils.x.y import a, b`` counts the module
``fewshot_utils.x.y``, plus ``fewshot_utils.x.y.a`` for each imported name that is itself a
module or a package of the repository's ``fewshot_utils`` (``a.py`` or ``a/__init__.py``
there, next to this test's folder); ``from fewshot_utils import data, viz`` thus counts
``fewshot_utils`` and the submodules among ``data`` and ``viz``; ``import fewshot_utils.x``
(``as y`` or not) counts ``fewshot_utils.x``.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "fewshot_utils"
PACKAGE_DIR = ROOT / PACKAGE
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALLOW_LIST = Path(__file__).resolve().parent / "notebook_fidelity_allow.txt"
MAX_PACKAGE_MODULES = 5
HEAVY = {"torch", "torchvision", "numpy", "matplotlib", "PIL", "scipy", "sklearn", "pandas"}


@functools.cache
def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def each_notebook():
    return pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in NOTEBOOKS])


def one_line(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listing(items) -> str:
    return "".join(f"\n  {item}" for item in items)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 9, f"expected the course's notebooks in {ROOT / 'notebooks'}"


# --------------------------------------------------------------------------------------
# Check 1: the decimals the markdown quotes are on screen
# --------------------------------------------------------------------------------------

DECIMAL = re.compile(
    r"(?<![^\W_])(?<![.,])(?P<sign>[+\-\u2212])?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)\.(?P<frac>\d+)(?!\d|\.\d)"
)
YEAR = r"(?:19[5-9]\d|20[0-4]\d)[a-z]?(?!\d)"
CITATION = re.compile(
    rf"(?:\b[A-Z][\w'’\-]*(?:\s+et\s+al\.)?|\bet\s+al\.|\))[,:]?\s+\(?{YEAR}"
    rf"|(?<!\d)\({YEAR}\)"
)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*)$")
QUIZ = re.compile(r"\bquiz", re.I)
LIST_ITEM = re.compile(r"^\s*(?:[*+\-]|\d{1,2}[.)])\s+")
TABLE_ROW = re.compile(r"^\s*\|")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
HTML_LINE = re.compile(r"^\s*(?:</?[A-Za-z][^>]*>\s*)+$|^\s*<summary>.*</summary>\s*$")
MASKED = [
    re.compile(r"```.*?```", re.S),  # fenced code
    re.compile(r"`[^`\n]+`"),  # inline code
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"(?<![\\$])\$(?:[^$\n]|\n(?![ \t>]*\n))+?\$"),  # inline math, within a paragraph
]
# A sentence ends at . ! or ? (and closing quotes, brackets, emphasis), then white space and
# what can start a sentence; not after an abbreviation or an initial ("J. Snell").
SENTENCE_END = re.compile(r"[.!?][\"'”’)\]*_]*\s+(?=[A-Z0-9(\[\"'“*_<+\-\u2212])")
ABBREVIATION = re.compile(r"(?:\bet al|\be\.g|\bi\.e|\bcf|\bvs|\bFig|\bEq|\bNo|\b[A-Z])$")


@dataclass(frozen=True)
class Number:
    sign: str  # "-", "+" or ""
    magnitude: Decimal
    decimals: int


@dataclass(frozen=True)
class Quote:
    cell: int
    line: int  # 1-based, in the cell's source
    number: str
    text: str  # that source line

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}: {self.number}  in  {one_line(self.text)!r}"


@dataclass(frozen=True)
class Unit:
    offset: int  # in the cell's source
    text: str
    exempt: bool  # by a citing table header (a) or a quiz section (c)


def parse_number(match: re.Match) -> Number:
    sign = {"+": "+", "-": "-", "\u2212": "-"}.get(match.group("sign") or "", "")
    digits = match.group("int").replace(",", "") + "." + match.group("frac")
    return Number(sign, Decimal(digits), len(match.group("frac")))


def numbers(text: str) -> list[Number]:
    return [parse_number(m) for m in DECIMAL.finditer(text)]


def shows(quoted: Number, shown: Number) -> bool:
    """Whether an output's number ``shown`` is the quoted one (see the module docstring)."""
    if quoted.sign and quoted.sign != shown.sign:
        return False
    if shown.decimals < quoted.decimals:
        return False
    step = Decimal(1).scaleb(-quoted.decimals)
    return any(
        shown.magnitude.quantize(step, rounding=mode) == quoted.magnitude
        for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN)
    )


def text_of(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def shown_texts(nb: nbformat.NotebookNode):
    """The text each output of the notebook puts on screen."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                yield text_of(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                rich = [k for k in ("text/html", "text/markdown", "text/latex") if k in data]
                for key in rich:
                    yield re.sub(r"<[^>]*>", " ", text_of(data[key]))
                if not rich and "text/plain" in data:
                    if not any(k.startswith("image/") for k in data):
                        yield text_of(data["text/plain"])


@functools.cache
def allow_list() -> tuple[re.Pattern, ...]:
    lines = ALLOW_LIST.read_text(encoding="utf-8").splitlines()
    return tuple(re.compile(s.strip()) for s in lines if s.strip() and not s.startswith("#"))


def mask(source: str) -> str:
    """The source with math and code blanked out (same length, newlines kept)."""
    for pattern in MASKED:
        source = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), source)
    return source


def sentences(offset: int, text: str):
    begin = 0
    for end in SENTENCE_END.finditer(text):
        if not ABBREVIATION.search(text[: end.start()]):
            yield Unit(offset + begin, text[begin : end.end()], False)
            begin = end.end()
    yield Unit(offset + begin, text[begin:], False)


def units(masked: str, quiz: list):
    """The units of one masked markdown cell. ``quiz[0]`` carries the level of the open
    quiz heading (or None) from cell to cell."""
    block: list[tuple[int, int]] = []  # (start, end) of the lines of the open paragraph or item
    item = False
    table_cites = None  # None outside a table, else whether its header row cites

    def close():
        nonlocal block, item
        if block:
            start, end = block[0][0], block[-1][1]
            text = masked[start:end]
            for piece in [Unit(start, text, False)] if item else sentences(start, text):
                yield Unit(piece.offset, piece.text, quiz[0] is not None)
        block, item = [], False

    offset = 0
    for line in masked.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        body = re.sub(r"^\s*>\s?", "", line.rstrip("\n"))  # a blockquote's text after ">"
        span = (start, start + len(line.rstrip("\n")))
        heading = HEADING.match(body)
        if not TABLE_ROW.match(body):
            table_cites = None
        if heading:
            yield from close()
            level = len(heading.group(1))
            if quiz[0] is not None and level <= quiz[0]:
                quiz[0] = None
            if QUIZ.search(heading.group(2)):
                quiz[0] = level
            yield Unit(start, masked[span[0] : span[1]], quiz[0] is not None)
        elif TABLE_ROW.match(body):
            yield from close()
            if table_cites is None:
                table_cites = bool(CITATION.search(body))
            if not TABLE_RULE.match(body):
                yield Unit(start, masked[span[0] : span[1]], table_cites or quiz[0] is not None)
        elif not body.strip() or HTML_LINE.match(body):
            yield from close()
        elif LIST_ITEM.match(body):
            yield from close()
            block, item = [span], True
        else:
            block.append(span)
    yield from close()


def quoted_decimals(nb: nbformat.NotebookNode):
    """(Quote, Number, exempt) for each decimal in the markdown outside math and code."""
    quiz = [None]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        lines, masked = cell.source.split("\n"), mask(cell.source)
        for unit in units(masked, quiz):
            cites = bool(CITATION.search(unit.text))
            allowed = [m.span() for pattern in allow_list() for m in pattern.finditer(unit.text)]
            for match in DECIMAL.finditer(unit.text):
                line = masked.count("\n", 0, unit.offset + match.start())
                inside = any(a <= match.start() and match.end() <= b for a, b in allowed)
                quote = Quote(index, line + 1, match.group(), lines[line])
                yield quote, parse_number(match), unit.exempt or cites or inside


def missing_decimals(nb: nbformat.NotebookNode) -> tuple[list[Quote], int]:
    """The quoted decimals that no output shows, and how many were checked."""
    shown = {n for text in shown_texts(nb) for n in numbers(text)}
    missing, checked = [], 0
    for quote, number, exempt in quoted_decimals(nb):
        if not exempt:
            checked += 1
            if not any(shows(number, s) for s in shown):
                missing.append(quote)
    return missing, checked


@each_notebook()
def test_quoted_decimals_are_on_screen(path):
    missing, checked = missing_decimals(read(path))
    assert not missing, (
        f"{path.name}: {len(missing)} of the {checked} decimals its markdown quotes are in no "
        "output of the notebook (exemptions: citations, math, code, quiz, "
        f"{ALLOW_LIST.name}):" + listing(missing)
    )


# --------------------------------------------------------------------------------------
# Check 2: the exercises do not give their answers away
# --------------------------------------------------------------------------------------

CORRECT = "\u2705"  # the checkers' "✅ Correct! ..."
SOLUTIONS_HEADING = re.compile(r"^ {0,3}#{1,6}\s+.*\bsolutions\b", re.I | re.M)
SOLUTION_FIRST_LINE = re.compile(r"#\s*solution\b", re.I)


def before_solutions(nb: nbformat.NotebookNode):
    """(index, cell) of the cells before the first "Solutions" heading (all without one)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and SOLUTIONS_HEADING.search(cell.source):
            return
        yield index, cell


def output_text(output) -> str:
    if output.output_type == "stream":
        return text_of(output.text)
    if output.output_type == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return "\n".join(text_of(v) for k, v in data.items() if k.startswith("text/"))


def is_solution(cell) -> bool:
    if "solution" in cell.metadata.get("tags", []):
        return True
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return cell.cell_type == "code" and bool(SOLUTION_FIRST_LINE.match(first.strip()))


def correct_answers_shown(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {index}: {one_line(line)!r}"
        for index, cell in before_solutions(nb)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        for line in output_text(output).splitlines()
        if CORRECT in line
    ]


def solution_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {index}: {one_line(cell.source, 70)!r}"
        for index, cell in before_solutions(nb)
        if is_solution(cell)
    ]


def has_solutions_heading(nb: nbformat.NotebookNode) -> bool:
    return any(c.cell_type == "markdown" and SOLUTIONS_HEADING.search(c.source) for c in nb.cells)


def where_solutions(nb: nbformat.NotebookNode) -> str:
    if has_solutions_heading(nb):
        return "before its Solutions heading"
    return "anywhere, as it has no Solutions heading"


@each_notebook()
def test_no_correct_checker_output_before_solutions(path):
    nb = read(path)
    found = correct_answers_shown(nb)
    assert not found, (
        f"{path.name}: outputs {where_solutions(nb)} report a correct answer ({CORRECT}):"
        + listing(found)
    )


@each_notebook()
def test_no_solution_cell_before_solutions(path):
    nb = read(path)
    found = solution_cells(nb)
    assert not found, (
        f"{path.name}: solution cells (tagged 'solution' or starting with '# Solution') "
        f"{where_solutions(nb)}:" + listing(found)
    )


# --------------------------------------------------------------------------------------
# Checks 3 and 4: imports
# --------------------------------------------------------------------------------------


def python_source(source: str) -> str:
    """The cell with IPython magic and shell lines blanked (line numbers kept)."""
    return "\n".join("" if s.lstrip().startswith(("%", "!")) else s for s in source.split("\n"))


def imports(nb: nbformat.NotebookNode):
    """(cell index, Import or ImportFrom node) in notebook order; (index, SyntaxError) for a
    code cell that does not parse."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(python_source(cell.source))
        except SyntaxError as error:
            yield index, error
            continue
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
            yield index, node


def modules_of(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return ["." * node.level + (node.module or "")]


def in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def bound_in_init(package: Path) -> set[str]:
    """The names a package's ``__init__.py`` binds with ``from ... import name`` (such a
    name is what ``from package import name`` gives, even when a submodule has it too)."""
    init = package / "__init__.py"
    if not init.is_file():
        return set()
    names = set()
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def is_submodule(module: str, package_dir: Path = PACKAGE_DIR) -> bool:
    """Whether ``fewshot_utils.x.y`` is a module or a package in ``package_dir``, and
    ``from fewshot_utils.x import y`` gives that module, not a name ``x/__init__.py`` binds
    (``fewshot_utils.fewshot`` binds the function ``cosine_similarity`` of its module
    ``cosine_similarity``)."""
    relative = Path(*module.split(".")[1:])
    exists = (package_dir / relative.with_suffix(".py")).is_file() or (
        package_dir / relative / "__init__.py"
    ).is_file()
    return exists and relative.name not in bound_in_init(package_dir / relative.parent)


def describe(node) -> str:
    return one_line(ast.unparse(node), 90)


def imports_before_package(nb: nbformat.NotebookNode) -> list[str] | None:
    """What the notebook imports before its first import of the package; None if it never
    imports the package. A cell that does not parse is reported as such."""
    before = []
    for index, node in imports(nb):
        if isinstance(node, SyntaxError):
            before.append(f"cell {index} does not parse: {node}")
            continue
        if any(in_package(m) for m in modules_of(node)):
            return before
        heavy = any(m.split(".")[0] in HEAVY for m in modules_of(node))
        before.append(f"cell {index} line {node.lineno}: {describe(node)}" + "  (heavy)" * heavy)
    return None


@each_notebook()
def test_first_import_is_the_package(path):
    before = imports_before_package(read(path))
    assert before is not None, f"{path.name} never imports {PACKAGE}"
    assert not before, (
        f"{path.name}: its first import is not the package's set-up (`from {PACKAGE}... "
        "import ...`), which must come before torch and any other library (the package sets "
        "OMP_WAIT_POLICY before torch loads). Imports before it:" + listing(before)
    )


def package_modules(
    nb: nbformat.NotebookNode, package_dir: Path = PACKAGE_DIR
) -> tuple[dict[str, str], list[str]]:
    """{package module: where it is first imported}, and the code cells that do not parse."""
    found: dict[str, str] = {}
    broken = []
    for index, node in imports(nb):
        if isinstance(node, SyntaxError):
            broken.append(f"cell {index}: {node}")
            continue
        where = f"cell {index}: {describe(node)}"
        for module in filter(in_package, modules_of(node)):
            found.setdefault(module, where)
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    name = f"{module}.{alias.name}"
                    if alias.name != "*" and is_submodule(name, package_dir):
                        found.setdefault(name, where)
    return found, broken


@each_notebook()
def test_at_most_five_package_modules(path):
    found, broken = package_modules(read(path))
    assert not broken, f"{path.name}: code cells that do not parse:" + listing(broken)
    assert len(found) <= MAX_PACKAGE_MODULES, (
        f"{path.name} imports from {len(found)} {PACKAGE} modules, more than "
        f"{MAX_PACKAGE_MODULES}:" + listing(f"{m}  ({found[m]})" for m in sorted(found))
    )


# --------------------------------------------------------------------------------------
# The rules themselves, on made-up notebooks
# --------------------------------------------------------------------------------------


def stream(text: str):
    return new_output("stream", name="stdout", text=text)


@pytest.mark.parametrize(
    "quoted, output, match",
    [
        ("97.56", "97.56", True),
        ("97.6", "97.56", True),
        ("97.6", "97.60", True),
        ("97.56", "97.6", False),
        ("97.5", "97.56", False),
        ("0.25", "0.245", True),  # half up
        ("0.24", "0.245", True),  # half to even
        ("-0.54", "**-0.54 ± 0.11**", True),
        ("0.54", "-0.54", True),
        ("-0.54", "0.54", False),
        ("+2.03", "**+2.03 ± 0.16**", True),
        ("+2.03", "± 2.03", False),
        ("+2.03", "-2.03", False),
        ("\u22120.54", "-0.54", True),
        ("13,180.5", "13180.50", True),
        ("1.5", "3.10.2", False),
        ("1.2", "v1.2", False),
    ],
)
def test_rule_matching(quoted, output, match):
    (number,) = numbers(quoted)
    assert any(shows(number, shown) for shown in numbers(output)) is match


def test_rule_units_and_exemptions():
    markdown = """## Results

We got 97.56 ± 0.24% here, and 1.5x faster. Snell et al. 2017 report 98.8. Koch et al. report
92.0, then 99.3-99.5 in a range. Settings: $s = 10.5$, `lr=0.33`, learning rate 0.01, then
0.001; chance is 0.1%.

* A bullet citing Koch et al. (2015): 92.1 and,
  on its next line, 92.2.
* A bullet with 12.5 of its own.

| method (Dhillon et al. 2020) | 1-shot |
|---|---:|
| fine-tuning | 57.7 |

| method | 1-shot |
|---|---:|
| ours | 97.56 |
| theirs | 55.5 |

> A quote: 66.6.

## Quiz

1. One method gets 91.1 ± 0.4 %.

<details>
<summary>Answers</summary>

1. 91.1 is made up.
</details>

## References

* B. M. Lake et al. *Omniglot.* Science 350(6266), 2015. 77.7 there.
* Not a citation: 88.8.
"""
    shown = "97.56 ± 0.24 %, 99.3 and 99.5, -1.50x"
    nb = new_notebook(
        cells=[
            new_markdown_cell(markdown),
            new_code_cell("", outputs=[stream(shown)]),
            new_code_cell(
                "",
                outputs=[
                    new_output(
                        "display_data",
                        data={"image/png": "", "text/plain": "<Figure size 12.5x66.6>"},
                    )
                ],
            ),
        ]
    )
    missing, checked = missing_decimals(nb)
    assert [q.number for q in missing] == ["92.0", "12.5", "55.5", "66.6", "88.8"]
    assert [q.line for q in missing] == [4, 9, 18, 20, 35]
    assert checked == 11  # 97.56 0.24 1.5 92.0 99.3 99.5 12.5 97.56 55.5 66.6 88.8


def test_rule_solutions():
    def checker_output(text):
        return [stream(text)]

    nb = new_notebook(
        cells=[
            new_markdown_cell("## Exercise"),
            new_code_cell("answer = None", outputs=checker_output("⏳ Not answered yet")),
            new_code_cell("# Solution\nanswer = 1", outputs=checker_output("✅ Correct! 1")),
            new_code_cell("x = 2", metadata={"tags": ["solution"]}),
            new_markdown_cell("Some text.\n\n## Solutions"),
            new_code_cell("# Solution\nanswer = 1", outputs=checker_output("✅ Correct! 1")),
        ]
    )
    assert correct_answers_shown(nb) == ["cell 2: '✅ Correct! 1'"]
    assert [s.split(":")[0] for s in solution_cells(nb)] == ["cell 2", "cell 3"]
    nb.cells[4].source = "No heading here."
    assert len(correct_answers_shown(nb)) == 2 and len(solution_cells(nb)) == 3


def test_rule_imports(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "__init__.py").write_text("")
    (tmp_path / "plots.py").write_text("")
    nb = new_notebook(
        cells=[
            new_markdown_cell("import torch"),
            new_code_cell("%matplotlib inline\n!ls\nfrom fewshot_utils.notebook import setup"),
            new_code_cell("import torch\nfrom fewshot_utils import data, plots, load_dataset"),
            new_code_cell("import fewshot_utils.data.omniglot as omniglot\nimport numpy"),
        ]
    )
    assert imports_before_package(nb) == []
    found, broken = package_modules(nb, tmp_path)
    assert not broken
    assert sorted(found) == [
        "fewshot_utils",
        "fewshot_utils.data",
        "fewshot_utils.data.omniglot",
        "fewshot_utils.notebook",
        "fewshot_utils.plots",
    ]
    nb.cells.insert(1, new_code_cell("import time\nimport numpy as np"))
    assert imports_before_package(nb) == [
        "cell 1 line 1: import time",
        "cell 1 line 2: import numpy as np  (heavy)",
    ]
