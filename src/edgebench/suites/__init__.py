"""Benchmark suites: YAML files of one or more grids, checked in full before anything runs.

A suite names its grids. Each grid is a `GridSettings` (settings.py): its keys are the settings
of `edgebench run` (models x compilers x precisions x batch sizes, threads, weights, stop rule,
options, data, calibration, telemetry, LoadGen, ...), declared once there. Loading one validates
every key, type and name (models, compilers, precisions, options, weights, datasets) and reports
the first problem as one line that names the file, the line and the key, e.g.

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
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgebench.errors import UnknownName, UsageError
from edgebench.safe_yaml import YamlTooLarge, load_bounded
from edgebench.settings import GridSettings


class SuiteError(UsageError):
    """A suite file that cannot be read or does not validate; the message names the line."""


# --- the schema: a suite is a name, a description and grids of GridSettings -----------------
class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    description: str = ""
    grids: list[GridSettings] = Field(min_length=1)


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

    @property
    def name(self) -> str:
        return self.spec.name

    def grids(
        self, cache_dir: Path | None = None, targets: list[str] | None = None
    ) -> list[GridSettings]:
        """The suite's grids that have a compiler to run (`cache_dir` and `targets` override
        theirs; targets are validated)."""
        grids = [g for g in self.spec.grids if g.compiler_names()]
        if cache_dir is not None:
            grids = [g.model_copy(update={"cache_dir": cache_dir}) for g in grids]
        if targets:
            try:
                grids = [
                    GridSettings.model_validate({**dict(g), "targets": targets}) for g in grids
                ]
            except ValidationError as exc:
                msg = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
                raise SuiteError(f"--targets: {msg}") from None
        return grids

    def n_cells(self) -> int:
        return sum(g.n_cells() for g in self.grids())

    def describe(self) -> dict[str, Any]:
        """What the store keeps about the suite with its run."""
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


def parse_suite(
    text: str, label: str, base_dir: Path | None = None, source: str | None = None
) -> Suite:
    """Parses and validates a suite's YAML text; `label` names it in error messages."""
    try:
        root, data = load_bounded(text)
    except YamlTooLarge as exc:
        raise SuiteError(f"{label}: {exc}") from None
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
    base = base_dir or Path.cwd()
    try:
        # Relative model paths are read from the suite's folder (the validation context).
        spec = SuiteSpec.model_validate(data, context={"base_dir": base})
    except ValidationError as exc:
        raise _schema_error(label, root, exc) from None
    notes = [f"grid {i}: {note}" for i, g in enumerate(spec.grids) for note in g.notes()]
    return Suite(
        spec=spec,
        source=source or label,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        notes=notes,
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
    "Suite",
    "SuiteError",
    "SuiteSpec",
    "builtin_names",
    "load_suite",
    "parse_suite",
]
