"""Where compilers register: a compiler module's class decorator adds it here.

Apart from the package's face (compilers/__init__.py), which imports the built-in compiler
modules and plugins before it reads this table, so that a compiler module importing
`register` does not import the face that imports it.
"""

from __future__ import annotations

from edgebench.compilers.base import Compiler

COMPILERS: dict[str, type[Compiler]] = {}


def register(cls: type[Compiler]) -> type[Compiler]:
    """Class decorator that adds a compiler to the registry."""
    existing = COMPILERS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"compiler {cls.name!r} is registered twice")
    COMPILERS[cls.name] = cls
    return cls


__all__ = ["COMPILERS", "register"]
