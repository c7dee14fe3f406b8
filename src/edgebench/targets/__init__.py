"""Targets: where cells are measured. `local` (this host), `ssh://user@host[:port]` and
`adb://SERIAL`, or a name from `edgebench target add` (targets/config.py).

This package's face stays light: a device's agent imports `edgebench.targets.device` from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgebench.targets.base import Target

LOCAL = "local"


def open_target(name_or_url: str) -> Target:
    """The target a name (`local`, a configured name) or a URL stands for; nothing connects
    until it is used."""
    from edgebench.errors import redact
    from edgebench.targets.base import TargetError

    if name_or_url == LOCAL:
        from edgebench.targets.local import LocalTarget

        return LocalTarget()
    from edgebench.targets.config import resolve_entry

    name, entry = resolve_entry(name_or_url)
    url = entry["url"]
    if url.startswith("ssh://"):
        from edgebench.targets.ssh import SshTarget

        return SshTarget(name, url, entry.get("python"), entry.get("workdir"), entry.get("key"))
    if url.startswith("adb://"):
        from edgebench.targets.adb import AdbTarget

        return AdbTarget(name, url, entry.get("python"), entry.get("workdir"))
    raise TargetError(f"target {name}: unknown URL kind '{redact(url)}'")


__all__ = ["LOCAL", "open_target"]
