"""Benchmark suites: YAML files of one or more grids, checked in full before anything runs.

A suite names its grids (models x compilers x precisions x batch sizes, with threads, weights,
stop rule, options and an optional MLPerf LoadGen scenario). Loading one validates every key,
type and name (models, compilers, precisions) and reports the first problem as one line that
names the file, the line and the key, e.g.

    quick.yaml:9: grids[0].batch_sizes[1]: Input should be a valid integer

Compiler names are checked against the registry: a name that edgebench does not know is an
error, a known compiler that cannot run on this host gives `skipped` cells at run time. A name
ending in `?` (e.g. `tf-trt?`) is optional: it is left out, with a note, where this edgebench has
no such compiler. `*` in `compilers` means every registered CPU compiler (not `null`); `*` in
`precisions` means each compiler's own precisions.

Built-in suites are YAML files shipped in `edgebench/suites/builtin/`.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgebench.errors import EdgebenchError, UnknownName, UsageError

SCENARIO_NAMES = ("single-stream", "multi-stream", "server", "offline")


class SuiteError(UsageError):
    """A suite file that cannot be read or does not validate; the message names the line."""


# --- the schema --------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StopRuleSpec(_Strict):
    warmup_runs: int = Field(default=5, ge=0)
    min_runs: int = Field(default=20, ge=1)
    min_duration_s: float = Field(default=2.0, ge=0)
    max_runs: int = Field(default=100_000, ge=1)


class LoadGenSpec(_Strict):
    target_qps: float | None = Field(default=None, gt=0)
    target_latency_ms: float | None = Field(default=None, gt=0)
    samples_per_query: int | None = Field(default=None, ge=1)


def _as_list(value: Any) -> Any:
    """A scalar where a list is expected is a list of one (`batch_sizes: 8`)."""
    return value if isinstance(value, list) or value is None else [value]


class GridSpec(_Strict):
    """One grid of cells. Names are checked after the schema, with their own lines."""

    name: str | None = None
    models: list[str] = Field(min_length=1)
    compilers: list[str] = Field(min_length=1)
    precisions: list[str] = Field(min_length=1)
    batch_sizes: list[int] = Field(default=[1], min_length=1)
    threads: int | None = Field(default=None, ge=1)
    weights: str = "pretrained"  # as `edgebench run`; `random` for speed-only figures
    stop_rule: StopRuleSpec = Field(default_factory=lambda: StopRuleSpec())
    options: dict[str, Any] = Field(default_factory=dict)
    scenario: Literal["single-stream", "multi-stream", "server", "offline"] | None = None
    loadgen: LoadGenSpec = Field(default_factory=lambda: LoadGenSpec())
    cell_timeout_s: float = Field(default=900.0, gt=0)
    calib_size: int = Field(default=100, ge=1)
    calib_dataset: str | None = None
    dataset: str | None = None
    limit: int | None = Field(default=None, ge=1)
    input_shape: str | None = None
    fidelity: bool = True
    seed: int = 0

    @field_validator("models", "compilers", "precisions", "batch_sizes", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("compilers", mode="before")
    @classmethod
    def _null_compiler(cls, value: Any) -> Any:
        # Unquoted `null` in a YAML list is None: in a list of compilers it can only mean the
        # compiler named null.
        return [("null" if v is None else v) for v in value] if isinstance(value, list) else value

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(b < 1 for b in value):
            raise ValueError("batch sizes must be whole numbers of at least 1")
        return value


class SuiteSpec(_Strict):
    name: str
    description: str = ""
    grids: list[GridSpec] = Field(min_length=1)


# --- YAML with line numbers ----------------------------------------------------------------
def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _find(root: yaml.Node | None, loc: tuple[Any, ...], key_node: bool = False) -> int:
    """The line of the YAML node at a pydantic error location (as deep as it can be followed);
    with `key_node`, the line of the mapping key itself (an unknown key)."""
    node = root
    line = _line(root) if root is not None else 1
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    last = i == len(loc) - 1
                    node = k if key_node and last else v
                    line = _line(node)
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = _line(node)
        else:
            return line
    return line


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _duplicate_keys(node: yaml.Node | None, where: tuple[Any, ...] = ()) -> tuple[int, str] | None:
    """The first key given twice in one mapping (PyYAML silently keeps the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen and k.value != "<<":
                    return _line(k), f"{_path((*where, k.value))}: key given twice"
                seen.add(k.value)
            found = _duplicate_keys(v, (*where, getattr(k, "value", "?")))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_keys(item, (*where, i))
            if found:
                return found
    return None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys valid at a location, for 'did you mean' hints on a misspelled key."""
    model: type[BaseModel] = SuiteSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fld = model.model_fields.get(str(part))
        ann = getattr(fld, "annotation", None) if fld else None
        args = getattr(ann, "__args__", ()) or ()
        inner = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _schema_error(label: str, root: yaml.Node | None, exc: ValidationError) -> SuiteError:
    errors = exc.errors(include_url=False)
    # A misspelled key explains the "missing" one it was meant to be: name it first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        bad = str(loc[-1])
        hint = difflib.get_close_matches(bad, _known_keys(loc), n=1)
        where = _path(loc[:-1])
        msg = f"unknown key '{bad}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        text = f"{where}: {msg}" if where else msg
        return SuiteError(f"{label}:{_find(root, loc, key_node=True)}: {text}{more}")
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = f"missing key '{loc[-1]}'"
        loc = loc[:-1]
    return SuiteError(f"{label}:{_find(root, loc)}: {_path(loc) or 'suite'}: {msg}{more}")


# --- a loaded suite ------------------------------------------------------------------------
@dataclass
class Suite:
    spec: SuiteSpec
    source: str  # a file path, or builtin:NAME
    sha256: str
    notes: list[str] = field(default_factory=list)  # optional compilers left out, and why
    base_dir: Path = field(default_factory=Path.cwd)  # relative model paths start here
    grid_compilers: list[list[str]] = field(default_factory=list)  # names after expansion

    @property
    def name(self) -> str:
        return self.spec.name

    def run_configs(self, cache_dir: Path | None = None) -> list[Any]:
        """One RunConfig per grid (per compiler where `precisions: '*'`)."""
        from edgebench.compilers import get_compiler
        from edgebench.harness.runner import RunConfig
        from edgebench.harness.timing import StopRule

        configs = []
        for grid, compilers in zip(self.spec.grids, self.grid_compilers, strict=True):
            if not compilers:
                continue
            models = [_model_arg(m, self.base_dir) for m in grid.models]
            if grid.precisions == ["*"]:
                per = [
                    ([c], [p for p in get_compiler(c).precisions if p != "best"]) for c in compilers
                ]
            else:
                per = [(compilers, list(grid.precisions))]
            for cnames, precisions in per:
                cfg = RunConfig(
                    models=models,
                    compilers=cnames,
                    precisions=precisions,
                    batch_sizes=list(grid.batch_sizes),
                    weights=grid.weights,
                    options=dict(grid.options),
                    stop_rule=StopRule(**grid.stop_rule.model_dump()),
                    cell_timeout_s=grid.cell_timeout_s,
                    calib_size=grid.calib_size,
                    input_shape=grid.input_shape,
                    seed=grid.seed,
                    dataset=grid.dataset,
                    limit=grid.limit,
                    calib_dataset=grid.calib_dataset,
                    fidelity=grid.fidelity,
                    scenario=grid.scenario,
                    loadgen=grid.loadgen.model_dump(),
                )
                if cache_dir is not None:
                    cfg.cache_dir = cache_dir
                if grid.threads is not None:
                    cfg.threads = grid.threads
                configs.append(cfg)
        return configs

    def n_cells(self) -> int:
        return sum(
            len(c.models) * len(c.compilers) * len(c.precisions) * len(c.batch_sizes)
            for c in self.run_configs()
        )

    def describe(self) -> dict[str, Any]:
        """What the store keeps about the suite with its run."""
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


def _model_arg(name: str, base: Path) -> str:
    from edgebench.models import _looks_like_path

    if _looks_like_path(name) and not Path(name).expanduser().is_absolute():
        candidate = base / name
        if candidate.exists():
            return str(candidate)
    return name


def _cpu_compilers() -> list[str]:
    from edgebench.compilers import list_compilers

    return [c.name for c in list_compilers() if c.name != "null" and "cpu" in c.devices]


def _check_names(
    suite: SuiteSpec, label: str, root: yaml.Node | None, base: Path
) -> tuple[list[list[str]], list[str]]:
    """Checks model, compiler and precision names; returns each grid's compilers and notes."""
    from edgebench.compilers import PRECISIONS, get_compiler
    from edgebench.models import resolve_model

    def fail(loc: tuple[Any, ...], msg: str) -> SuiteError:
        return SuiteError(f"{label}:{_find(root, loc)}: {_path(loc)}: {msg}")

    grids: list[list[str]] = []
    notes: list[str] = []
    for gi, grid in enumerate(suite.grids):
        for mi, model in enumerate(grid.models):
            try:
                resolve_model(_model_arg(model, base))
            except EdgebenchError as exc:
                raise fail(("grids", gi, "models", mi), str(exc)) from None
        names: list[str] = []
        for ci, cname in enumerate(grid.compilers):
            if cname == "*":
                names.extend(n for n in _cpu_compilers() if n not in names)
                continue
            optional = cname.endswith("?")
            bare = cname.rstrip("?")
            try:
                get_compiler(bare)
            except UnknownName as exc:
                if optional:
                    notes.append(
                        f"grid {gi}: compiler {bare} is not part of this edgebench: left out"
                    )
                    continue
                raise fail(("grids", gi, "compilers", ci), str(exc)) from None
            if bare not in names:
                names.append(bare)
        for pi, precision in enumerate(grid.precisions):
            if precision == "*":
                if len(grid.precisions) > 1:
                    raise fail(("grids", gi, "precisions", pi), "'*' stands alone")
                continue
            if precision not in PRECISIONS:
                raise fail(
                    ("grids", gi, "precisions", pi),
                    str(UnknownName("precision", precision, PRECISIONS)),
                )
        if grid.scenario is not None:
            from edgebench.harness.loadgen_driver import check_scenario

            try:
                check_scenario(grid.scenario)
            except EdgebenchError as exc:
                raise fail(("grids", gi, "scenario"), str(exc)) from None
        grids.append(names)
    return grids, notes


def parse_suite(
    text: str, label: str, base_dir: Path | None = None, source: str | None = None
) -> Suite:
    """Parses and validates a suite's YAML text; `label` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(f"{label}{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{label}:1: a suite is a mapping with 'name' and 'grids'")
    dup = _duplicate_keys(root)
    if dup:
        raise SuiteError(f"{label}:{dup[0]}: {dup[1]}")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(label, root, exc) from None
    base = base_dir or Path.cwd()
    grid_compilers, notes = _check_names(spec, label, root, base)
    return Suite(
        spec=spec,
        source=source or label,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        notes=notes,
        base_dir=base,
        grid_compilers=grid_compilers,
    )


def builtin_names() -> list[str]:
    folder = resources.files("edgebench.suites") / "builtin"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite file."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise SuiteError(f"{name_or_path}: no such suite file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SuiteError(f"{name_or_path}: cannot read ({exc})") from None
        return parse_suite(text, str(path), path.resolve().parent, str(path.resolve()))
    names = builtin_names()
    if name_or_path not in names:
        raise UnknownName("suite", name_or_path, names)
    res = resources.files("edgebench.suites") / "builtin" / f"{name_or_path}.yaml"
    return parse_suite(
        res.read_text(), f"{name_or_path}.yaml", Path.cwd(), f"builtin:{name_or_path}"
    )


__all__ = [
    "SCENARIO_NAMES",
    "GridSpec",
    "Suite",
    "SuiteError",
    "SuiteSpec",
    "builtin_names",
    "load_suite",
    "parse_suite",
]
