"""What a run ran on: the ``"provenance"`` block of a run's ``config.json``.

:func:`collect` records the full command (``argv``), the package versions
(jax, jaxlib, flax, optax, gymnax, envpool, numpy, Python), the git commit of
the jaxrl source when it is a git checkout (and whether its tree had changes,
tracked or untracked), the devices (backend, each kind and how many) and the
process count. :func:`differences` says, in words, how two such records
differ: what ``jaxrl reproduce`` warns about, since a different jaxlib,
device or commit may change the bits.
"""

import datetime
import importlib.metadata
import platform
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "collect", "differences", "git_state", "package_versions"]

PACKAGES = ("jax", "jaxlib", "flax", "optax", "gymnax", "envpool", "numpy")


def package_versions() -> dict[str, str | None]:
    """``{package: version}`` for :data:`PACKAGES` and ``"python"``; ``None``
    for a package that is not installed (read from the installed metadata,
    nothing imported)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(root: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout that holds the
    jaxrl source (``root``: the folder above the ``jaxrl`` package), or
    ``None`` when it is not one (an installed wheel) or git is missing.
    ``dirty``: a tracked file changed, or an untracked one not ignored."""
    if root is None:
        root = Path(__file__).resolve().parents[2]
    root = Path(root)
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return None  # no checkout, or jaxrl installed inside another repo
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain")
    if commit is None:
        return None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _devices() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "count": len(devices),
        "local_count": jax.local_device_count(),
        "kinds": dict(Counter(d.device_kind for d in devices)),
    }


def collect(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The provenance of a run started now in this process.

    Args:
        argv: the command's arguments after the program name (default
            ``sys.argv[1:]``).

    Returns:
        ``{"command", "argv", "packages", "git", "devices", "process_count",
        "process_index", "platform", "created"}`` (JSON-able).
    """
    import jax

    args = list(sys.argv[1:] if argv is None else argv)
    return {
        "command": shlex.join(["jaxrl", *args]),
        "argv": args,
        "packages": package_versions(),
        "git": git_state(),
        "devices": _devices(),
        "process_count": jax.process_count(),
        "process_index": jax.process_index(),
        "platform": platform.platform(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def differences(
    recorded: Mapping[str, Any] | None, current: Mapping[str, Any] | None
) -> list[str]:
    """How two provenance records differ, one line each (empty: alike in
    what can change the numbers: package versions, commit, a changed tree,
    devices, process count). A record that is missing is one line."""
    if not recorded:
        return ["the original run records no provenance (an older jaxrl)"]
    if not current:
        return ["the new run records no provenance"]
    lines = []
    old_pkgs, new_pkgs = recorded.get("packages", {}), current.get("packages", {})
    for name in sorted(set(old_pkgs) | set(new_pkgs)):
        a, b = old_pkgs.get(name), new_pkgs.get(name)
        if a != b:
            lines.append(f"{name} {a or 'absent'} then, {b or 'absent'} now")
    old_git, new_git = recorded.get("git"), current.get("git")
    if (old_git or {}).get("commit") != (new_git or {}).get("commit"):
        a = (old_git or {}).get("commit") or "no git checkout"
        b = (new_git or {}).get("commit") or "no git checkout"
        lines.append(f"jaxrl commit {a[:12]} then, {b[:12]} now")
    dirty = [
        label
        for label, record in (("then", old_git), ("now", new_git))
        if record and record.get("dirty")
    ]
    if dirty:  # the commit alone does not say what ran
        lines.append(f"the jaxrl source had uncommitted changes {' and '.join(dirty)}")
    old_dev, new_dev = recorded.get("devices", {}), current.get("devices", {})
    for key in ("backend", "count", "kinds"):
        if old_dev.get(key) != new_dev.get(key):
            lines.append(
                f"devices: {key} {old_dev.get(key)} then, {new_dev.get(key)} now"
            )
    if recorded.get("process_count") != current.get("process_count"):
        lines.append(
            f"{recorded.get('process_count')} process(es) then, "
            f"{current.get('process_count')} now"
        )
    return lines
