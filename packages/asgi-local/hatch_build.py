"""Build hook: put the optional C accelerator `asgi_local._speedups` into the wheel.

Wheels get the compiled module and a platform tag; editable installs get it next to the
sources. When it cannot be built (no compiler, PyPy, a free-threaded CPython, or
``ASGI_LOCAL_NO_EXTENSIONS=1``), the result is a pure-Python build with a warning:
`asgi_local` then runs its pure-Python implementation, with the same behaviour. The
compiling itself lives in `build_speedups.py`.
"""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _load_builder(root: str) -> ModuleType:
    path = Path(root) / "build_speedups.py"
    spec = importlib.util.spec_from_file_location("build_speedups", path)
    if spec is None or spec.loader is None:
        message = f"cannot load {path}"
        raise ImportError(message)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SpeedupsBuildHook(BuildHookInterface):
    """Compile `asgi_local._speedups`; fall back to a pure-Python build on failure."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        builder = _load_builder(self.root)
        reason = builder.unsupported_reason()
        if reason is None:
            try:
                self._build(builder, version, build_data)
                return
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
        self.app.display_warning(
            f"asgi-local: building without the C accelerator ({reason}); "
            "Local falls back to its pure-Python implementation"
        )

    def _build(self, builder: ModuleType, version: str, build_data: Dict[str, Any]) -> None:
        if version == "editable":
            builder.build_in_place()
        else:
            self._work_dir = Path(tempfile.mkdtemp(prefix="asgi-local-build-"))
            built = builder.compile_extension(self._work_dir / "lib", self._work_dir / "obj")
            suffix = sysconfig.get_config_var("EXT_SUFFIX")
            build_data["force_include"][str(built)] = f"asgi_local/{builder.MODULE}{suffix}"
            build_data["infer_tag"] = True
        build_data["pure_python"] = False

    def finalize(self, version: str, build_data: Dict[str, Any], artifact_path: str) -> None:
        work_dir: Path | None = getattr(self, "_work_dir", None)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
