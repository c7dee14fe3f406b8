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


def _import_graph() -> dict[str, set[str]]:
    """Which edgebench module imports which, from every import statement (in functions too,
    where imports are deferred to keep start-up light; not those only type checkers read).
    `from P import name` counts as importing the module P.name where that is a module. A
    package's face and the modules inside that package (a compiler and its explainer) are
    one unit: their imports of each other are the package's own affair."""
    modules = dict(_modules())
    packages = {".".join(p.relative_to(SRC.parent).parts[:-1]) for p in SRC.rglob("__init__.py")}

    def internal(a: str, b: str) -> bool:
        return (a in packages and b.startswith(a + ".")) or (
            b in packages and a.startswith(b + ".")
        )

    graph: dict[str, set[str]] = {name: set() for name in modules}

    def typing_only(node: ast.If) -> bool:
        return "TYPE_CHECKING" in ast.unparse(node.test)

    for name, tree in modules.items():
        stack: list[ast.AST] = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If) and typing_only(node):
                stack.extend(node.orelse)
                continue
            stack.extend(ast.iter_child_nodes(node))
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{a.name}"
                    if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                ]
            graph[name] |= {
                t for t in targets if t in modules and t != name and not internal(name, t)
            }
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return loops


def test_no_module_imports_a_higher_layer() -> None:
    """No import loop: a lower module importing a higher one (the cache importing the harness
    for `pid_alive`, the accuracy code importing the harness for its inputs) tied 30 modules
    into one loop, so none of them could be read, tested or replaced alone."""
    loops = _loops(_import_graph())
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)
