"""environment.yml (Binder, conda) and pyproject.toml (pip) must not drift apart."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def requirement(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", text)
    assert match, f"cannot read requirement {text!r}"
    return match.group(1).lower(), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(requirement(line) for line in listed)


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
