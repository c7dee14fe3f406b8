"""Error types that the CLI turns into one line and an exit code.

Anything a user can cause by bad input raises one of these; a traceback reaching the user is a bug.
"""

from __future__ import annotations

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
