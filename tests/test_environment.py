"""environment.yml (Binder, conda) and pyproject.toml (pip) must not drift apart."""

import re
from pathlib import Path

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10: read the two lists ourselves
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def requirement(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", text)
    assert match, f"cannot read requirement {text!r}"
    return match.group(1).lower(), match.group(2).replace(" ", "")


def listed_requirements(text: str) -> list[str]:
    """The ``dependencies`` and the ``test`` extra of a pyproject.toml, without a TOML
    library: each is a ``name = [ "...", ... ]`` array of quoted strings."""
    listed = []
    for name in ("dependencies", "test"):
        match = re.search(rf"^{name} = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
        assert match, f"pyproject.toml has no {name} list"
        listed += re.findall(r'"([^"]+)"', match.group(1))
    return listed


def pyproject_requirements() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    if tomllib is None:
        listed = listed_requirements(text)
    else:
        project = tomllib.loads(text)["project"]
        listed = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(requirement(line) for line in listed)


def test_the_reader_without_tomllib_agrees_with_tomllib():
    text = (ROOT / "pyproject.toml").read_text()
    listed = listed_requirements(text)
    assert "torch>=2.2" in listed and "nbval>=0.11" in listed
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        assert listed == project["dependencies"] + project["optional-dependencies"]["test"]


def environment_requirements() -> dict[str, str]:
    """The conda packages of environment.yml (a flat list of ``- name>=x``)."""
    packages, in_dependencies = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#")[0].rstrip()
        if stripped.startswith("dependencies:"):
            in_dependencies = True
            continue
        item = re.fullmatch(r"  - ([^:]+)", stripped)
        if in_dependencies and item:
            name, spec = requirement(item.group(1))
            if name not in ("python", "pip"):
                packages[CONDA_TO_PYPI.get(name, name)] = spec
    return packages


def test_environment_lists_the_same_packages_and_ranges_as_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_environment_installs_the_package_itself():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.\s*$", text, re.MULTILINE)
    assert "conda-forge" in text and "pytorch-cpu" in text


def test_the_suite_may_leave_only_caches_behind():
    """The root ``conftest.py`` fails the session when ``git status`` lists anything new
    but these caches (a learner's checkpoint or a notebook's output is never one)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    ALLOWED = root_conftest.ALLOWED

    allowed = [
        "!! data/omniglot-py/",
        "!! data/glyphs/",
        "!! data/features/",
        "!! .ci-venv/",
        "!! fewshot_utils/__pycache__/",
        "!! fewshot_utils.egg-info/",
    ]
    refused = [
        "!! checkpoints/",
        "!! notebooks/checkpoints/",
        "!! student_notebooks/",
        "?? notebooks/scratch.ipynb",
        " M notebooks/01_pretraining.ipynb",
        "!! data/conv4_copy.pt",
    ]
    assert all(ALLOWED.match(line) for line in allowed)
    assert not any(ALLOWED.match(line) for line in refused)
