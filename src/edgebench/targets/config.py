"""Named targets: a small YAML file, `~/.config/edgebench/targets.yaml` (EDGEBENCH_CONFIG moves
the folder). Each entry holds a URL and, optionally, the Python to run there, the working folder
and a key file's path. No password is ever written here."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from edgebench.errors import UsageError, redact
from edgebench.safe_yaml import YamlTooLarge, load_bounded
from edgebench.targets.base import LOCAL, check_url

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
KEYS = ("url", "python", "workdir", "key")
SCHEMES = ("ssh", "adb")


def config_dir() -> Path:
    """edgebench's own configuration folder (targets.yaml, known_hosts); UsageError when it
    is a file."""
    env = os.environ.get("EDGEBENCH_CONFIG")
    if env:
        folder, how = Path(env).expanduser(), f"EDGEBENCH_CONFIG={env}"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        folder, how = base / "edgebench", str(base / "edgebench")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{how}: is a file; edgebench keeps its configuration in a folder")
    return folder


def targets_file() -> Path:
    return config_dir() / "targets.yaml"


def load_targets() -> dict[str, dict[str, str]]:
    path = targets_file()
    if not path.is_file():
        return {}
    try:
        data = load_bounded(path.read_text())[1] or {}
    except (yaml.YAMLError, YamlTooLarge) as exc:
        raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"{path}: a mapping of target names to {{url: ...}} entries")
    return {str(k): {kk: str(vv) for kk, vv in v.items()} for k, v in data.items()}


def save_targets(targets: dict[str, dict[str, str]]) -> None:
    path = targets_file()
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(targets, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written ({exc.strerror or exc})") from None


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?)$")


def check_target_url(url: str) -> None:
    """Refuses, when it is given, a target URL that using it would trip on: a password, a
    scheme edgebench has no transport for, no host, a host name with spaces, a port that is
    not a number from 1 to 65535, an empty user or serial (UsageError, exit 2)."""
    from urllib.parse import urlsplit

    check_url(url)
    scheme = url.partition("://")[0]
    if "://" not in url or scheme not in SCHEMES:
        raise UsageError(
            f"target URL '{redact(url)}': give ssh://[user@]host[:port] or adb://SERIAL"
        )
    shown = redact(url)
    if scheme == "adb":
        serial = url.removeprefix("adb://").strip("/")
        if not serial or any(c.isspace() for c in serial) or "/" in serial:
            raise UsageError(
                f"target URL '{shown}': adb://SERIAL takes one serial, as `adb devices` lists"
            )
        return
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"target URL '{shown}': the port must be a number from 1 to 65535"
        ) from None
    if port == 0:
        raise UsageError(f"target URL '{shown}': the port must be a number from 1 to 65535")
    host = (
        parts.netloc.rpartition("@")[2].rsplit(":", 1)[0]
        if port
        else parts.netloc.rpartition("@")[2]
    )
    if not host:
        raise UsageError(f"target URL '{shown}': no host; give ssh://[user@]host[:port]")
    if not _HOST.match(host):
        raise UsageError(f"target URL '{shown}': '{host}' is not a host name or address")
    if "@" in parts.netloc and not parts.username:
        raise UsageError(f"target URL '{shown}': an empty user before '@'")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(f"target URL '{shown}': give ssh://[user@]host[:port], with no path")


def add_target(name: str, url: str, **extra: str | None) -> dict[str, str]:
    if not NAME.match(name) or name == LOCAL:
        raise UsageError(
            f"target name '{name}': letters, digits, '.', '_' and '-', starting with a letter"
            + (" ('local' is this host)" if name == LOCAL else "")
        )
    check_target_url(url)
    entry = {"url": url, **{k: v for k, v in extra.items() if v}}
    targets = load_targets()
    targets[name] = entry
    save_targets(targets)
    return entry


def remove_target(name: str) -> None:
    targets = load_targets()
    if name not in targets:
        raise unknown_target(name, targets)
    del targets[name]
    save_targets(targets)


def unknown_target(name: str, targets: dict[str, Any]) -> UsageError:
    known = sorted([LOCAL, *targets])
    near = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return UsageError(
        f"unknown target '{name}'{hint}; known: {', '.join(known)} "
        "(add one with `edgebench target add NAME URL`, or give a URL)"
    )


def check_targets(names: list[str]) -> None:
    """Every target name or URL is known or well formed (UsageError, before any work)."""
    for name in names:
        if name != LOCAL:
            resolve_entry(name)


def resolve_entry(name_or_url: str) -> tuple[str, dict[str, str]]:
    """A target's name and entry, from its name in the file or a URL given as it is."""
    if "://" in name_or_url:
        check_target_url(name_or_url)
        return name_or_url.partition("://")[2].split("/")[0] or name_or_url, {"url": name_or_url}
    targets = load_targets()
    if name_or_url not in targets:
        raise unknown_target(name_or_url, targets)
    return name_or_url, targets[name_or_url]


__all__ = [
    "add_target",
    "check_targets",
    "check_target_url",
    "config_dir",
    "load_targets",
    "remove_target",
    "resolve_entry",
    "save_targets",
    "targets_file",
]
