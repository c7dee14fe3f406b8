"""Compiler options, declared by each compiler and checked before any work starts.

A compiler lists its options as `Option`s: name, default (whose type is the option's type),
one line of help, and the allowed values where there is a fixed set. Conversion options change
the artifact (and its cache key); runtime options only change how it is loaded. A key that no
chosen compiler declares, or a value an option does not allow, is refused with the compiler's
valid keys and the nearest match, never dropped.

This module is plain Python (no pydantic), so a device-side agent can import the compilers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from edgebench.errors import UsageError

Value = bool | int | float | str


class OptionError(UsageError):
    """An unknown option key, or a value its option does not allow."""


@dataclass(frozen=True)
class Option:
    """One compiler option.

    Attributes:
        name: the key given with `--option KEY=VALUE` or a suite's `options:`.
        default: its value when not given; its type is the option's type.
        help: one line for `edgebench compiler show`.
        choices: the allowed values, where there is a fixed set (strings match any case).
        stage: `conversion` (part of the artifact's cache key) or `runtime`.
        minimum: the smallest allowed number, for numeric options.
        maximum: the largest allowed number, for numeric options.
        refused: values refused within those bounds, each with why.
        search: the values `edgebench tune` tries (default: every choice; none for free values).
        precisions: the precisions it makes a difference at (None: every one); `edgebench
            tune` varies it only there.
        accelerators: the accelerators it applies to (None: every one); a cell on another
            keeps its default (an NPU's SoC means nothing to a GPU cell).
    """

    name: str
    default: Value
    help: str
    choices: tuple[Value, ...] | None = None
    stage: Literal["conversion", "runtime"] = "runtime"
    minimum: float | None = None
    maximum: float | None = None
    refused: tuple[tuple[Value, str], ...] = ()
    search: tuple[Value, ...] | None = None
    precisions: tuple[str, ...] | None = None
    accelerators: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        return type(self.default).__name__

    def candidates(self) -> tuple[Value, ...]:
        """The values a search over this option tries."""
        if self.search is not None:
            return self.search
        if self.choices is not None:
            return self.choices
        return (False, True) if isinstance(self.default, bool) else (self.default,)

    def parse(self, value: Any) -> Value:
        """The value as this option's type, or OptionError saying what is allowed."""
        parsed = self._coerce(value)
        if self.choices is not None:
            for choice in self.choices:
                same = (
                    str(choice).lower() == str(parsed).lower()
                    if isinstance(choice, str)
                    else choice == parsed
                )
                if same:
                    return choice
            allowed = ", ".join(str(c) for c in self.choices)
            raise OptionError(f"{self.name}={value}: choose one of {allowed}")
        numeric = isinstance(parsed, (int, float)) and not isinstance(parsed, bool)
        if self.minimum is not None and numeric and float(parsed) < self.minimum:
            raise OptionError(f"{self.name}={value}: must be at least {self.minimum:g}")
        if self.maximum is not None and numeric and float(parsed) > self.maximum:
            raise OptionError(f"{self.name}={value}: must be at most {self.maximum:g}")
        for bad, why in self.refused:
            if parsed == bad:
                raise OptionError(f"{self.name}={value}: {why}")
        return parsed

    def _coerce(self, value: Any) -> Value:
        want = type(self.default)
        if isinstance(value, want) and not (want is not bool and isinstance(value, bool)):
            return value
        text = str(value).strip()
        if want is bool:
            if text.lower() in ("true", "yes", "on", "1"):
                return True
            if text.lower() in ("false", "no", "off", "0"):
                return False
            raise OptionError(f"{self.name}={value}: takes true or false")
        if want in (int, float) and not isinstance(value, bool):
            try:
                number = want(text) if want is float else int(text, 10)
            except ValueError:
                pass
            else:
                return number
            kind = "a whole number" if want is int else "a number"
            raise OptionError(f"{self.name}={value}: takes {kind}")
        if want is str and not isinstance(value, (bool, dict, list)):
            return text
        raise OptionError(f"{self.name}={value}: takes a {self.kind}")


# Weight optimizations that shrink the model a device downloads: magnitude pruning and weight
# clustering of a Keras model, with a short fine-tune (conversion/weight_optimization.py),
# before any converter; the compilers whose route passes through Keras declare them.
WEIGHT_OPTIONS = (
    Option(
        "prune", 0.0, "share of each layer's weights set to zero (by magnitude), 0 for none",
        stage="conversion", minimum=0.0, maximum=0.95, search=(0.0, 0.5),
    ),
    Option(
        "clusters", 0, "distinct values per weight channel after k-means clustering, 0 for none",
        stage="conversion", minimum=0, maximum=256, search=(0, 16),
        refused=((1, "one value per channel makes every weight of it the same; give 2 or "
                     "more (0: no clustering)"),),
    ),
    Option(
        "finetune_steps", 30, "fine-tune steps after pruning or clustering (the FP32 model's "
        "outputs as targets, on --calib-dataset)", stage="conversion", minimum=0, search=(),
    ),
)  # fmt: skip


class WithOptions(Protocol):
    """What option checks need of a compiler (compilers.base.Compiler has it)."""

    @property
    def name(self) -> str: ...

    def option_names(self) -> tuple[str, ...]: ...

    def option(self, name: str) -> Option: ...


def check_options(compilers: Sequence[WithOptions], given: Mapping[str, Any]) -> None:
    """Refuses, before any work, a key that none of `compilers` declares or a value that one
    that declares it does not allow.

    Raises:
        OptionError: one line naming the compilers, their valid keys and the nearest key.
    """
    for key, value in given.items():
        owners = [c for c in compilers if key in c.option_names()]
        if not owners:
            raise unknown_option(key, compilers)
        for compiler in owners:
            try:
                compiler.option(key).parse(value)
            except OptionError as exc:
                raise OptionError(f"option {exc} (for {compiler.name})") from None


def unknown_option(key: str, compilers: Iterable[WithOptions]) -> OptionError:
    compilers = list(compilers)
    names = ", ".join(c.name for c in compilers)
    valid = sorted({n for c in compilers for n in c.option_names()})
    near = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    if not valid:
        return OptionError(f"unknown option '{key}': {names} take no options")
    whose = "its" if len(compilers) == 1 else "their"
    return OptionError(
        f"unknown option '{key}' for {names}{hint}; {whose} options: {', '.join(valid)}"
    )


__all__ = [
    "WEIGHT_OPTIONS",
    "Option",
    "OptionError",
    "Value",
    "WithOptions",
    "check_options",
    "unknown_option",
]
