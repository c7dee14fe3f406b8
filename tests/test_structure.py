"""The shape of the code, held by tests: settings declared once, typed worker jobs, no private
imports across packages, short runner methods, a CLI without import circles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from edgebench.cli import app
from edgebench.settings import leaf_fields, markdown_keys

SRC = Path(__file__).resolve().parent.parent / "src" / "edgebench"
README = Path(__file__).resolve().parent.parent / "README.md"
# `run`'s options that are not grid settings: where results go and how they are shown.
RUN_OWN = {"--db", "--json", "--report", "--help"}


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, ast.parse(path.read_text())))
    return out


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def test_every_run_option_is_a_grid_setting_a_suite_can_set() -> None:
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    flags = {
        (field.json_schema_extra or {}).get("flag")  # type: ignore[union-attr]
        for _, field in leaf_fields()
    }
    for param in command.params:
        opts = set(param.opts) | set(param.secondary_opts)
        assert opts & (flags | RUN_OWN), f"run option {param.opts} is not a grid setting"


def test_the_readme_lists_every_suite_key() -> None:
    text = README.read_text()
    block = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", text, re.S)
    assert block, "README.md has no settings block"
    assert block.group(1) == markdown_keys(), (
        "README's settings table is stale: replace it with `edgebench suite keys`"
    )


def test_no_job_dicts_remain() -> None:
    for path in SRC.rglob("*.py"):
        assert not re.search(r"\bjob\[|\bjob\.get\(", path.read_text()), path


def test_no_private_names_are_imported_across_packages() -> None:
    packages = {".".join(p.relative_to(SRC.parent).parts[:-1]) for p in SRC.rglob("__init__.py")}
    for module, tree in _modules():
        here = _package_of(module, module in packages)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "edgebench"
            ):
                continue
            target = node.module or ""
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_"):  # a private module: only its own package uses it
                    assert ".".join(parts[:i]) == here, f"{module} imports {target}"
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    owner = _package_of(target, target in packages)
                    assert owner == here, f"{module} imports {target}.{alias.name}"


def test_runner_methods_are_short() -> None:
    tree = ast.parse((SRC / "harness" / "runner.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= 60, f"harness/runner.py: {node.name} has {length} lines"


def test_cli_modules_import_only_the_common_spine() -> None:
    for path in (SRC / "cli").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgebench.cli"):
                assert node.module == "edgebench.cli.common", f"{path.name} imports {node.module}"
