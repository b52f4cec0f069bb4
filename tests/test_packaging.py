"""The package builds anywhere (issue 11, item 7): the build backend that understands the SPDX
licence string, every library imported declared, every declared file present, and every
dependency pinned in constraints.txt for reproducible ``make test`` runs.

The byte-identical regeneration of the sample market runs in ``make test`` with those pins:
``tests/cli/test_db_cli.py::test_sample_generate_reproduces_the_shipped_manifest``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement ("psycopg[binary]>=3" -> psycopg)."""
    name = re.split(r"[\[<>=!~;\s]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = PYPROJECT["project"]
    deps = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    return {_name(d) for d in deps}


def test_build_backend_understands_the_spdx_licence() -> None:
    requires = PYPROJECT["build-system"]["requires"]
    setuptools = next(r for r in requires if _name(r) == "setuptools")
    assert re.search(r">=\s*(7[7-9]|[89]\d|\d{3,})", setuptools), setuptools
    assert isinstance(PYPROJECT["project"]["license"], str)  # PEP 639 SPDX expression


def _imports(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_every_imported_library_is_declared() -> None:
    ours = {"carbonfin", "api", "backtests", "tests", "benchmarks"}
    dists = metadata.packages_distributions()
    declared = _declared()
    missing = {}
    for folder in ("carbonfin", "api", "backtests"):
        for module in _imports(ROOT / folder) - ours - set(sys.stdlib_module_names):
            names = {_name(d) for d in dists.get(module, [module])}
            if not names & declared:
                missing[module] = sorted(names)
    assert missing == {}, f"imported but not in pyproject.toml: {missing}"


def test_every_file_named_in_pyproject_exists() -> None:
    project = PYPROJECT["project"]
    assert (ROOT / project["readme"]).is_file()
    module = project["scripts"]["carbonfin"].split(":")[0]
    assert (ROOT / Path(*module.split("."))).with_suffix("").exists() or (
        ROOT / Path(*module.split(".")) / "__init__.py"
    ).is_file()
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        folder = ROOT / Path(*package.split("."))
        assert folder.is_dir(), package
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: {pattern!r} matches no file"
    for path in PYPROJECT["tool"]["mypy"]["files"]:
        assert (ROOT / path).exists(), path


def test_every_dependency_is_pinned_in_the_constraints() -> None:
    """After adding a dependency, run `make constraints` (pip freeze of the dev venv)."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions; got {line!r}"
            pins[_name(name)] = version
    unpinned = sorted(_declared() - set(pins))
    assert unpinned == [], f"not pinned in constraints.txt (run `make constraints`): {unpinned}"
    assert "carbonfin" not in pins
