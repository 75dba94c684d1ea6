"""The house rules a test can check (STYLE.md, CONVENTIONS.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "accounting", "api", "workers")
# Which top-level packages each layer may import.
ALLOWED = {
    "models": {"models"},
    "accounting": {"models", "accounting"},
    "api": {"models", "accounting", "api"},
    "workers": {"models", "accounting", "workers"},
}
# Framework libraries that must stay out of the rules and the tables.
FRAMEWORKS = {"strawberry", "starlette", "dramatiq", "redis", "uvicorn", "httpx", "typer", "apscheduler"}
# The CLI composes the API with the workers' runtime: the one place both meet.
COMPOSITION_ROOTS = {ROOT / "api" / "cli.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = []
    for path in _sources(package):
        if path in COMPOSITION_ROOTS:
            continue
        for name in _imports(path) & set(PACKAGES):
            if name not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


@pytest.mark.parametrize("package", ["models", "accounting"])
def test_rules_and_tables_know_no_framework(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(package)
        for name in _imports(path) & FRAMEWORKS
    ]
    assert wrong == []


def test_only_the_unit_of_work_commits() -> None:
    offenders = []
    for package in PACKAGES:
        for path in _sources(package):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if ".commit(" in line and path != ROOT / "models" / "db.py":
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_no_float_in_money_code() -> None:
    """Money is Decimal: no float() conversions in the rules or the tables."""
    offenders = [
        f"{path.relative_to(ROOT)}"
        for package in ("models", "accounting")
        for path in _sources(package)
        if "float(" in path.read_text()
    ]
    assert offenders == []


def _defined_names(path: Path) -> set[str]:
    """What a module defines at its top level: functions, classes, constants."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_the_read_side_lives_in_api() -> None:
    """Pages, cursors and page limits are the API's (api/pagination.py, api/read/); the rules return rows."""
    offenders = [
        f"{path.relative_to(ROOT)} defines {name}"
        for path in _sources("accounting")
        for name in _defined_names(path)
        if any(word in name.lower() for word in ("cursor", "page", "paginat"))
    ]
    assert offenders == []


LONGEST_FUNCTION = 80
# Functions still longer, each named until its owner splits it. The demo seed is a script
# of data, not logic.
LONG_FUNCTIONS = {
    "accounting/demo.py:seed_demo",
}


def _function_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for package in PACKAGES:
        for path in _sources(package):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                    name = f"{path.relative_to(ROOT).as_posix()}:{node.name}"
                    lengths[name] = max(lengths.get(name, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_is_longer_than_80_lines() -> None:
    """A function longer than a screen does more than one thing: split it (issue 16).
    The list of known offenders only shrinks: one split is struck from it."""
    lengths = _function_lengths()
    long = {name for name, lines in lengths.items() if lines > LONGEST_FUNCTION}
    assert sorted(long - LONG_FUNCTIONS) == []
    assert sorted(LONG_FUNCTIONS - long) == []
