"""A Vulkan device for LiteRT's GPU accelerator: the system's, or Mesa's software lavapipe.

LiteRT 2.3's GPU accelerator is WebGPU over Vulkan. On a host with a GPU and its Vulkan driver
the system's loader finds it. Elsewhere `edgebench tools install vulkan-cpu` fetches Mesa's
lavapipe (a Vulkan device that runs on the CPU, through LLVM) and Vulkan's loader from Debian:
bookworm's own lavapipe (Mesa 22.3) lacks what WebGPU needs (`shaderUniform*ArrayDynamicIndexing
required ... No adapters found`), so Mesa 25 comes from bookworm-backports. Nothing is installed
on the system: the packages are downloaded with apt's lists kept apart from the system's and
unpacked (`dpkg -x`) under the cache, and a worker that measures a GPU cell loads them from
there (`use_software_vulkan`). Cells on it are always marked as a software device.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import BackendUnavailable

TOOL = "vulkan-cpu"
# bookworm-backports' Mesa (lavapipe) and libdrm, and bookworm's Vulkan loader
PACKAGES = (
    ("mesa-vulkan-drivers", "bookworm-backports"),
    ("libdrm2", "bookworm-backports"),
    ("libdrm-amdgpu1", "bookworm-backports"),
    ("libvulkan1", "bookworm"),
)
MIN_MESA = (25, 0)  # the first Mesa whose lavapipe WebGPU takes (22.3 does not)
_ICD_FOLDERS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
# Other drivers and layers the packages bring: 53 MB that lavapipe does not need
_UNUSED = re.compile(r"^libvulkan_(?!lvp).*\.so$|^libVkLayer_.*\.so$")


def multiarch() -> str:
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    return f"{machine.get(platform.machine().lower(), platform.machine())}-linux-gnu"


@dataclass(frozen=True)
class SoftwareVulkan:
    """lavapipe unpacked under the cache: its libraries, ICD file and shader cache."""

    folder: Path

    @property
    def libs(self) -> Path:
        return self.folder / "root" / "usr" / "lib" / multiarch()

    @property
    def icd(self) -> Path:
        return self.folder / "lvp_icd.json"

    @property
    def shader_cache(self) -> Path:
        return self.folder / "shader-cache"

    @property
    def versions(self) -> dict[str, str]:
        try:
            return dict(json.loads((self.folder / "versions.json").read_text()))
        except (OSError, ValueError):
            return {}

    def installed(self) -> bool:
        return self.icd.is_file() and (self.libs / "libvulkan_lvp.so").is_file()


def software_vulkan(cache_dir: Path) -> SoftwareVulkan:
    return SoftwareVulkan(cache_dir / "tools" / TOOL)


def system_vulkan() -> str | None:
    """The system's Vulkan drivers (ICD files), where its loader is installed; None when the
    system has no Vulkan (no loader, or no driver to load)."""
    if os.environ.get("VK_ICD_FILENAMES") or os.environ.get("VK_DRIVER_FILES"):
        given = os.environ.get("VK_DRIVER_FILES") or os.environ.get("VK_ICD_FILENAMES", "")
        return given if ctypes.util.find_library("vulkan") else None
    if ctypes.util.find_library("vulkan") is None:
        return None
    drivers = sorted(str(p) for folder in _ICD_FOLDERS for p in Path(folder).glob("*.json"))
    return ", ".join(drivers) or None


def unavailable_reason(cache_dir: Path) -> str | None:
    """Why LiteRT's GPU accelerator cannot run here, or None when a Vulkan device can."""
    if system_vulkan() is not None or software_vulkan(cache_dir).installed():
        return None
    return (
        "no Vulkan device here (no Vulkan driver on the system); `edgebench tools install "
        "vulkan-cpu` sets up a software one (Mesa's lavapipe, about 12 MB), marked as such"
    )


def use_software_vulkan(cache_dir: Path) -> SoftwareVulkan | None:
    """In a worker, before LiteRT creates its GPU accelerator: where the system has no Vulkan,
    loads lavapipe's libraries from the cache by path (no LD_LIBRARY_PATH needed) and points
    Vulkan's loader at its driver; returns it, or None when the system's Vulkan is used."""
    if system_vulkan() is not None:
        return None
    vk = software_vulkan(cache_dir)
    if not vk.installed():
        raise BackendUnavailable(unavailable_reason(cache_dir) or "no Vulkan device")
    # libdrm first (newer than a bookworm system's), then the loader lavapipe's ICD names
    for name in ("libdrm.so.2", "libdrm_amdgpu.so.1", "libvulkan.so.1"):
        ctypes.CDLL(str(vk.libs / name), mode=ctypes.RTLD_GLOBAL)
    os.environ["VK_ICD_FILENAMES"] = os.environ["VK_DRIVER_FILES"] = str(vk.icd)
    vk.shader_cache.mkdir(parents=True, exist_ok=True)
    # Compiling lavapipe's shaders takes a minute per model; Mesa keeps them here
    os.environ.setdefault("MESA_SHADER_CACHE_DIR", str(vk.shader_cache))
    return vk


def _mirror() -> str:
    """The Debian mirror this system's apt uses (both sources formats)."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if re.search(r"/debian/?$", match.group(1)):
                return match.group(1).rstrip("/")
    return "http://deb.debian.org/debian"


def install(cache_dir: Path) -> Path:
    """Downloads and unpacks lavapipe and Vulkan's loader under the cache (the system's apt
    sources, lists and packages are left as they are); returns the ICD file.

    Raises:
        BackendUnavailable: no apt-get or dpkg here, or the download failed (its last line).
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise BackendUnavailable("installing vulkan-cpu needs Debian's apt-get and dpkg")
    vk = software_vulkan(cache_dir)
    apt = vk.folder / "apt"
    debs = vk.folder / "debs"
    for folder in (apt / "lists" / "partial", apt / "cache" / "archives" / "partial", debs):
        folder.mkdir(parents=True, exist_ok=True)
    mirror = _mirror()
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    signed = f"[signed-by={keyring}] " if Path(keyring).is_file() else ""
    suites = dict.fromkeys(suite for _, suite in PACKAGES)
    (apt / "sources.list").write_text(
        "".join(f"deb {signed}{mirror} {suite} main\n" for suite in suites)
    )
    options = [
        "-q",
        "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt / 'cache'}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        options += ["-o", "APT::Sandbox::User=root"]  # apt's _apt user cannot write here
    _apt(["apt-get", *options, "update"], vk.folder)
    for old in debs.glob("*.deb"):
        old.unlink()
    wanted = [f"{name}/{suite}" for name, suite in PACKAGES]
    _apt(["apt-get", *options, "download", *wanted], debs)
    root = vk.folder / "root"
    shutil.rmtree(root, ignore_errors=True)
    versions = {}
    for deb in sorted(debs.glob("*.deb")):
        _apt(["dpkg", "-x", str(deb), str(root)], vk.folder)
        name, version = deb.name.split("_")[:2]
        versions[name] = version.replace("%3a", ":")
    mesa = re.match(r"(?:\d+:)?(\d+)\.(\d+)", versions.get("mesa-vulkan-drivers", ""))
    if mesa is None or (int(mesa.group(1)), int(mesa.group(2))) < MIN_MESA:
        raise BackendUnavailable(
            f"the Mesa from {mirror} bookworm-backports is {versions.get('mesa-vulkan-drivers')}"
            f"; LiteRT's WebGPU needs lavapipe from Mesa {MIN_MESA[0]} or later"
        )
    for lib in vk.libs.glob("*.so"):
        if _UNUSED.match(lib.name):
            lib.unlink()
    driver = {"library_path": str(vk.libs / "libvulkan_lvp.so"), "api_version": "1.4.305"}
    icd = {"file_format_version": "1.0.0", "ICD": driver}
    vk.icd.write_text(json.dumps(icd))
    (vk.folder / "versions.json").write_text(json.dumps(versions, indent=1))
    return vk.icd


def _apt(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise BackendUnavailable(f"{' '.join(cmd[:2])} failed: {lines[-1] if lines else ''}")


__all__ = [
    "PACKAGES",
    "SoftwareVulkan",
    "install",
    "software_vulkan",
    "system_vulkan",
    "unavailable_reason",
    "use_software_vulkan",
]
