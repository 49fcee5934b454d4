"""Build hook: compile the optional C accelerator `asgi_local._speedups`.

Wheels get the compiled module and a platform tag. Editable installs get it next to the
sources (``src/asgi_local``), written atomically so a process that has an older build loaded
is unaffected. When the accelerator cannot be built (no compiler, PyPy, a free-threaded
CPython, or ``ASGI_LOCAL_NO_EXTENSIONS=1``), the result is a pure-Python build with a
warning: `asgi_local` then runs its pure-Python implementation, with the same behaviour.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "_speedups"
SKIP_ENV = "ASGI_LOCAL_NO_EXTENSIONS"


def _unsupported_reason() -> str | None:
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return f"{SKIP_ENV} is set"
    if platform.python_implementation() != "CPython":
        return f"{platform.python_implementation()} is not CPython"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython is not supported by the accelerator yet"
    return None


def _interpreter_tag() -> str:
    from packaging.tags import sys_tags

    tag = next(t for t in sys_tags() if not t.platform.startswith(("manylinux", "musllinux")))
    return f"{tag.interpreter}-{tag.abi}-{tag.platform}"


def _compile(source: Path, out_dir: Path, work_dir: Path) -> Path:
    """Compile *source* into *out_dir* with the running interpreter's settings."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    extension = Extension(
        f"asgi_local.{MODULE}",
        [str(source)],
        define_macros=[("ASGI_LOCAL_SOURCE_HASH", f'"{digest}"')],
    )
    command = build_ext(Distribution({"name": "asgi-local", "ext_modules": [extension]}))
    command.build_lib = str(out_dir)
    command.build_temp = str(work_dir)
    command.ensure_finalized()
    command.run()
    (built,) = command.get_outputs()
    return Path(built)


class SpeedupsBuildHook(BuildHookInterface):
    """Compile `asgi_local._speedups`; fall back to a pure-Python build on failure."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        reason = _unsupported_reason()
        if reason is None:
            try:
                self._build(version, build_data)
                return
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
        self.app.display_warning(
            f"asgi-local: building without the C accelerator ({reason}); "
            "Local falls back to its pure-Python implementation"
        )

    def _build(self, version: str, build_data: Dict[str, Any]) -> None:
        package = Path(self.root) / "src" / "asgi_local"
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        self._work_dir = Path(tempfile.mkdtemp(prefix="asgi-local-build-"))
        built = _compile(package / f"{MODULE}.c", self._work_dir / "lib", self._work_dir / "obj")
        if version == "editable":
            target = package / f"{MODULE}{suffix}"
            staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(built, staged)
            os.replace(staged, target)  # atomic: a process with an older build keeps it mapped
            # hatchling tags editable wheels py3-none-any, and installers then reuse one
            # built for another interpreter without running this hook for this one
            build_data["tag"] = _interpreter_tag()
        else:
            build_data["force_include"][str(built)] = f"asgi_local/{MODULE}{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: Dict[str, Any], artifact_path: str) -> None:
        work_dir: Path | None = getattr(self, "_work_dir", None)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
