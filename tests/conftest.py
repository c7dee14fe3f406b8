"""Shared fixtures. Tests that need a framework are marked with it and skip when it is absent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PLUGINS = TESTS / "plugins"


def have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = {"tflite": ("tensorflow", "ai_edge_litert"), "tensorflow": ("tensorflow",)}
    for item in items:
        for marker, modules in needs.items():
            if item.get_closest_marker(marker) and not have(*modules):
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{', '.join(modules)} not installed (edgebench[tflite])"
                    )
                )


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for the session, so tests reuse each other's conversions."""
    return tmp_path_factory.mktemp("cache")


def cli_env(cache: Path | None = None, plugins: bool = False, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    if cache is not None:
        env["EDGEBENCH_CACHE"] = str(cache)
    if plugins:
        env["EDGEBENCH_PLUGINS"] = "edgebench_test_compilers"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs `edgebench ARGS` the way a user would, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "edgebench", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
