"""`import edgebench` and `edgebench --help` must not load a deep-learning framework."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("tensorflow", "keras", "torch", "openvino", "tvm", "onnxruntime", "ai_edge_litert", "jax")


def _probe(argv: list[str], body: str) -> str:
    return (
        f"import sys\nsys.argv = {argv!r}\n{body}\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )


def _heavy_modules(body: str, argv: list[str] | None = None) -> list[str]:
    code = _probe(argv or ["x"], body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")]
    assert line, out.stdout + out.stderr
    return [m for m in line[-1][len("HEAVY:") :].split(",") if m]


def test_import_loads_no_framework() -> None:
    body = (
        "import edgebench, edgebench.cli, edgebench.store, edgebench.report.html\n"
        "from edgebench.compilers import list_compilers\n"
        "[c.probe() for c in list_compilers()]\n"
        "from edgebench.models import list_models; list_models()\n"
    )
    assert _heavy_modules(body) == []


def test_help_and_list_load_no_framework() -> None:
    for argv in (["edgebench", "--help"], ["edgebench", "list"], ["edgebench", "run", "--help"]):
        body = "from edgebench.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        assert _heavy_modules(body, argv) == [], argv
