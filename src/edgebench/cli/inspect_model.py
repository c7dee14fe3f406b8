"""`edgebench inspect MODEL`: a model's inputs and outputs as edgebench will feed and read
them, before anything is measured."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgebench.cli.common import out


def _shape(shape: Any, batched: bool) -> str:
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"B x {dims}" if batched and dims else ("B" if batched else f"[{dims or 'scalar'}]")


def inspect_cmd(
    model: Annotated[str, typer.Argument(help="A zoo or corpus name, or a model file.")],
    input_shape: Annotated[str | None, typer.Option("--input-shape", help="As for `run`.")] = None,
    input_value: Annotated[str | None, typer.Option("--input-value", help="As for `run`.")] = None,
    input_range: Annotated[str | None, typer.Option("--input-range", help="As for `run`.")] = None,
    input_mean: Annotated[str | None, typer.Option("--input-mean", help="As for `run`.")] = None,
    input_std: Annotated[str | None, typer.Option("--input-std", help="As for `run`.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Each input and output with its shape and type, the batch dimension edgebench assumes
    (B), the image layout, the range of values fed and where that range comes from."""
    from edgebench.harness.prepare import (
        apply_input_shapes,
        apply_input_values,
        choose_preprocessing,
        given_preprocessing,
        preprocessing_note,
        read_model_file,
    )
    from edgebench.models import corpus, resolve_model
    from edgebench.settings import GridSettings

    settings = GridSettings(
        models=[model],
        compilers=["null"],
        input_range=input_range,
        input_mean=input_mean,
        input_std=input_std,
    )
    spec = resolve_model(model)
    outputs: list[dict[str, Any]] = []
    if model.startswith(corpus.PREFIX):
        corpus.fetch(corpus.get(model), settings.cache_dir)
        spec = replace(spec, path=str(corpus.path_of(corpus.get(model), settings.cache_dir)))
    if spec.path is not None:
        with tempfile.TemporaryDirectory(prefix="edgebench-inspect-") as work:
            spec, found = read_model_file(spec, Path(work))
        outputs = list(found.outputs)
    own_shape = input_shape or (
        corpus.get(model).input_shape if model.startswith(corpus.PREFIX) else None
    )
    if own_shape:
        spec = apply_input_shapes(spec, own_shape)
    spec = apply_input_values(spec, input_value)
    given = given_preprocessing(settings)
    if spec.path is not None:
        spec = choose_preprocessing(spec, given, model.startswith(corpus.PREFIX))
    inputs = [
        {
            "name": i.name,
            "shape": list(i.full_shape(1)) if not i.batched else [None, *i.shape],
            "dtype": i.dtype,
            "batch_dim": 0 if i.batched else None,
            "value_range": list(i.value_range) if i.value is None else [i.value, i.value],
            "value": i.value,
        }
        for i in spec.inputs
    ]
    found_layout = spec.layout if any(i.image_shape for i in spec.inputs) else None
    record = {
        "model": spec.name,
        "format": spec.source_format if spec.path else "zoo",
        "inputs": inputs,
        "outputs": outputs,
        "layout": found_layout,
        "takes_batch": spec.takes_batch,
        "preprocessing": preprocessing_note(spec),
    }
    if as_json:
        print(json.dumps(record, indent=2))
        return
    out.print(f"[bold]{escape(spec.name)}[/] ({record['format']})")
    for i in spec.inputs:
        fed = (
            f"= {i.value:g}"
            if i.value is not None
            else f"[{i.value_range[0]:g}, {i.value_range[1]:g}]"
        )
        out.print(
            f"  input  {escape(i.name)}: {_shape(i.shape, i.batched)} {i.dtype}, values {fed}"
            + ("" if i.batched else " (no batch dimension: fed whole)")
        )
    for o in outputs:
        out.print(f"  output {escape(str(o['name']))}: {_shape(o['shape'], False)} {o['dtype']}")
    if spec.path is not None and not outputs:
        out.print("  outputs: this format declares none before a run")
    if found_layout:
        out.print(f"  layout: {found_layout}")
    out.print(
        "  batch: B is the batch edgebench sets (--batch)"
        if spec.takes_batch
        else "  batch: none (every input fixed): runs at batch 1"
    )
    fed_images = preprocessing_note(spec)
    if fed_images:
        out.print(f"  images: {escape(fed_images)}")


__all__ = ["inspect_cmd"]
