"""`edgebench list`, `edgebench sysinfo` and `edgebench compiler show`: what this host has."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from edgebench.cli.common import out
from edgebench.errors import UsageError

compiler_app = typer.Typer(
    no_args_is_help=True, help="What a compiler offers: options, precisions."
)
tools_app = typer.Typer(
    no_args_is_help=True,
    help="Tools kept apart under the cache: onnx2tf, vulkan-cpu, litert-intel-npu.",
)


@tools_app.command("install")
def tools_install(
    name: Annotated[str, typer.Argument(help="The tool: onnx2tf, vulkan-cpu, litert-intel-npu.")],
) -> None:
    """Install a tool in a folder of its own under the cache (its dependencies conflict with
    edgebench's, or it would change the system): onnx2tf carries ONNX models to TensorFlow and
    TFLite; vulkan-cpu is a software Vulkan device (Mesa's lavapipe, from Debian's backports)
    for LiteRT's GPU accelerator; litert-intel-npu is the OpenVINO LiteRT's Intel NPU plugin
    links."""
    from edgebench.cache import check_cache_dir, default_cache_dir
    from edgebench.conversion.tools import install, tool

    t = tool(name)
    cache = check_cache_dir(default_cache_dir(), given=False)
    out.print(f"installing {t.requirement} (about {t.size}) ...")
    path = install(name, cache)
    out.print(f"{name}: {path}")


def list_cmd(
    what: Annotated[str, typer.Argument(help="models, compilers, or both when left out")] = "all",
    options: Annotated[
        bool, typer.Option("--options", help="With compilers: each compiler's options too.")
    ] = False,
) -> None:
    """List the models, compilers and accelerators edgebench knows, and whether each can run
    here."""
    if what not in ("all", "models", "compilers", "accelerators"):
        raise UsageError(
            f"edgebench list takes 'models', 'compilers' or 'accelerators', not '{what}'"
        )
    if what in ("all", "models"):
        _models_table()
    if what in ("all", "accelerators"):
        _accelerators_table()
    if what in ("all", "compilers"):
        _compilers_table()
        if options:
            from edgebench.compilers import list_compilers

            for compiler in list_compilers():
                if compiler.declared_options:
                    out.print(_options_table(compiler))


def _models_table() -> None:
    import importlib.util

    from rich.table import Table

    from edgebench.models import list_models

    t = Table(title="models")
    for col in ("name", "task", "input", "labels", "weights", "needs", "description"):
        t.add_column(col)
    for m in list_models():
        missing = [r for r in m.requires if importlib.util.find_spec(r) is None]
        t.add_row(
            m.name,
            m.task,
            "x".join(str(d) for d in m.inputs[0].shape) if m.inputs else "?",
            m.label_set,
            ", ".join(("random", *m.weights)),
            "ok" if not missing else f"missing {', '.join(missing)}",
            m.description,
        )
    out.print(t)


def _accelerators_table() -> None:
    """CPU, GPU (a Vulkan device: the system's, or the software one) and NPU (each vendor's
    SoCs, and whether its SDK is installed)."""
    from rich.table import Table

    from edgebench.accelerators.vulkan import software_vulkan, system_vulkan, unavailable_reason
    from edgebench.cache import default_cache_dir
    from edgebench.compilers import list_compilers
    from edgebench.compilers.tflite.npu import SDK_PACKAGES, VENDORS, sdk_problem

    cache = default_cache_dir()
    t = Table(title="accelerators (--accelerator)")
    for col in ("accelerator", "compilers", "device", "status"):
        t.add_column(col)
    for acc in ("cpu", "gpu", "npu"):
        names = ", ".join(c.name for c in list_compilers() if acc in c.accelerators)
        if acc == "cpu":
            t.add_row(acc, names, "this host's CPU", "available")
        elif acc == "gpu":
            system = system_vulkan()
            soft = software_vulkan(cache)
            device = (
                f"Vulkan: {system}" if system else
                "Vulkan: Mesa lavapipe (software, a CPU)" if soft.installed() else "-"
            )  # fmt: skip
            why = unavailable_reason(cache)
            t.add_row(
                acc, names, escape(device), escape(f"unavailable: {why}" if why else "available")
            )
    out.print(t)
    n = Table(title="NPU targets for LiteRT (-o npu_target=SOC)")
    for col in ("vendor", "SoCs", "SDK", "status"):
        n.add_column(col)
    for vendor, socs in VENDORS.items():
        why = sdk_problem(vendor, cache, "cpu" if vendor == "intel_openvino" else "npu")
        status = "ready" if why is None else f"unavailable: {why}"
        if vendor == "intel_openvino" and why is None:
            npu = sdk_problem(vendor, cache, "npu")
            status = "ready for -o npu_graph_backend=cpu (a software NPU)" + (
                "" if npu is None else "; no NPU compiler for the NPU itself"
            )
        n.add_row(vendor, ", ".join(socs), SDK_PACKAGES[vendor], escape(status))
    out.print(n)


def _compilers_table() -> None:
    from rich.table import Table

    from edgebench.compilers import list_compilers

    t = Table(title="compilers")
    for col in ("name", "status", "precisions", "options", "install", "description"):
        t.add_column(col)
    for c in list_compilers():
        a = c.probe()
        t.add_row(
            c.name,
            "available" if a.available else escape(f"unavailable: {a.reason}"),
            ", ".join(c.precisions),
            ", ".join(c.option_names()) or "-",
            escape(f"pip install 'edgebench[{c.extra}]'") if c.extra else c.install_hint,
            c.description,
            style=None if a.available else "yellow",
        )
    out.print(t)


def _options_table(compiler: object) -> object:
    from rich.table import Table

    from edgebench.compilers import Compiler

    assert isinstance(compiler, Compiler)
    t = Table(title=f"{compiler.name} options (-o KEY=VALUE)", title_justify="left")
    for col in ("key", "type", "default", "allowed", "stage", "what it does"):
        t.add_column(col)
    for o in compiler.declared_options:
        if o.choices:
            allowed = ", ".join(str(c) for c in o.choices)
        elif o.minimum is not None and o.maximum is not None:
            allowed = f"{o.minimum:g} to {o.maximum:g}"
        else:
            allowed = f">= {o.minimum:g}" if o.minimum is not None else "any"
        allowed += "".join(f", not {bad}" for bad, _ in o.refused)
        t.add_row(o.name, o.kind, str(o.default), allowed, o.stage, escape(o.help))
    return t


@compiler_app.command("show")
def compiler_show(
    name: Annotated[str, typer.Argument(help="A compiler's name (edgebench list compilers).")],
) -> None:
    """A compiler: whether it runs here, its precisions and its options."""
    from edgebench.compilers import get_compiler

    compiler = get_compiler(name)
    availability = compiler.probe()
    out.print(f"[bold]{compiler.name}[/]: {escape(compiler.description)}")
    out.print(f"status      {escape(str(availability))}")
    out.print(f"precisions  {', '.join(compiler.precisions)}")
    out.print(f"takes       {', '.join(compiler.input_formats)}")
    if compiler.declared_options:
        out.print(_options_table(compiler))
    else:
        out.print("options     none")


def sysinfo(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show this host: CPU and its flags, cores, memory, OS, Python, libraries, GPUs."""
    from edgebench.sysinfo import package_versions, system_info

    info = {**system_info(), "versions": package_versions()}
    if as_json:
        print(json.dumps(info, indent=1))
        return
    cpu = info["cpu"]
    out.print(f"[bold]CPU[/]      {cpu['model']} ({cpu['arch']})")
    out.print(
        f"[bold]cores[/]    {cpu['logical_cores']} logical, {cpu['usable_cores']} usable,"
        f" {cpu['physical_cores']} physical"
    )
    out.print(f"[bold]flags[/]    {' '.join(cpu['flags']) or '-'}")
    out.print(f"[bold]memory[/]   {info['memory_mb']} MB")
    out.print(f"[bold]OS[/]       {info['os']}")
    out.print(f"[bold]Python[/]   {info['python']}")
    gpus = info["gpus"]
    out.print(f"[bold]GPUs[/]     {', '.join(g['name'] for g in gpus) if gpus else 'none found'}")
    for name, version in info["versions"].items():
        out.print(f"  {name} {version}")
    from edgebench.telemetry import describe_meters

    out.print("[bold]power meters[/]")
    for meter, status in describe_meters():
        out.print(f"  {meter}: {escape(status)}")
