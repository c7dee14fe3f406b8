"""Error types that the CLI turns into one line and an exit code.

Anything a user can cause by bad input raises one of these; a traceback reaching the user is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class EdgebenchError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code = 1


class UsageError(EdgebenchError):
    """The command line names something that does not exist or cannot work."""

    exit_code = 2


class UnknownName(UsageError):
    """An unknown model, compiler, precision, dataset or option value."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} '{name}'; valid: {', '.join(self.valid)}")


class ModelLoadError(UsageError):
    """A model file is missing, corrupt, or of a kind edgebench cannot read."""


class WeightsUnavailable(UsageError):
    """Pretrained weights were asked for but cannot be fetched or found."""


class StoreError(UsageError):
    """The results store cannot be opened, written, or holds something unexpected."""


class BackendUnavailable(EdgebenchError):
    """A compiler's runtime is not installed or cannot run on this host."""


class UnsupportedPrecision(EdgebenchError):
    """A compiler cannot build a model at the requested precision."""


class ConversionError(EdgebenchError):
    """A compiler failed to convert or compile a model."""


# user:password@ in a URL, with or without its scheme and slashes (`ssh:/pi:hunter2@host`, a
# URL missing a slash, is one too): the password part is replaced wherever a message echoes it.
_USERINFO = re.compile(r"(?P<user>[^\s:/@'\"`]+):(?P<secret>[^\s@/'\"`]+)@(?=[^\s@])")


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _USERINFO.sub(lambda m: f"{m['user']}:***@", text)


# Phrases that mark the line of a framework's error that says what went wrong, best first.
_TELLING = (
    "not supported",
    "unsupported",
    "no conversion rule",
    "not a registered",
    "not implemented",
    "out of memory",
    "error",
)


DETAIL_CHARS = 20_000  # a framework's message kept whole, up to this (a C++ trace can be huge)


def error_detail(exc: BaseException) -> str:
    """A failure's whole message, secrets redacted, where it says more than `error_line`
    (ONNX Runtime's 'index: 0 Got: 1 Expected: 2' sits on its second line); else ''."""
    source: BaseException | None = exc
    if isinstance(exc, EdgebenchError):  # edgebench's own line; the framework's, behind it
        cause = exc.__cause__ or exc.__context__
        source = None if isinstance(cause, EdgebenchError) else cause
    if source is None:
        return ""
    message = str(source).strip()
    if "\n" not in message and len(message) <= 400:  # the line holds all of it
        return ""
    return redact(f"{type(source).__name__}: {message}")[:DETAIL_CHARS]


def error_line(exc: BaseException) -> str:
    """One line for a failure: frameworks bury the useful line among context and C++ source
    locations, so pick the line that says what went wrong."""
    if isinstance(exc, EdgebenchError):
        return str(exc)
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    useful = next(
        (ln for phrase in _TELLING for ln in reversed(lines) if phrase in ln.lower()),
        lines[0] if lines else "",
    )
    name = type(exc).__name__
    if not useful:
        return name
    # TorchScript's interpreter ends its message with the op's own `RuntimeError: ...` line.
    return useful[:400] if useful.startswith(f"{name}: ") else f"{name}: {useful[:400]}"
