"""Compile the optional C accelerator `asgi_local._speedups` for the running interpreter.

Used by the build hook (`hatch_build.py`) for wheels and editable installs. Run it directly
to build the module next to the sources of a development checkout when it is missing or
older than its source: ``python packages/asgi-local/build_speedups.py [--force] [--werror]``.
Warnings are on (``-Wall -Wextra``); ``--werror`` (the test scripts' build) makes them errors.
Installers may reuse an editable wheel built by another interpreter (hatchling tags every
editable wheel ``py3-none-any``), so the project's hatch scripts run it first.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

MODULE = "_speedups"
SKIP_ENV = "ASGI_LOCAL_NO_EXTENSIONS"
PACKAGE = Path(__file__).resolve().parent / "src" / "asgi_local"
SOURCE = PACKAGE / f"{MODULE}.c"


def unsupported_reason() -> str | None:
    """Why this interpreter gets no accelerator, or None when it can have one."""
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return f"{SKIP_ENV} is set"
    if platform.python_implementation() != "CPython":
        return f"{platform.python_implementation()} is not CPython"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "free-threaded CPython is not supported by the accelerator yet"
    return None


def warning_flags(*, werror: bool = False) -> list[str]:
    """Compiler flags that turn the warnings on (and into errors with *werror*)."""
    if os.name == "nt":  # MSVC
        return ["/W4", "/WX"] if werror else ["/W4"]
    return ["-Wall", "-Wextra", "-Werror"] if werror else ["-Wall", "-Wextra"]


def compile_extension(
    out_dir: Path,
    work_dir: Path,
    *,
    werror: bool = False,
    source: Path = SOURCE,
    macros: tuple[tuple[str, str], ...] = (),
) -> Path:
    """Compile the accelerator into *out_dir* with this interpreter's compiler settings.

    *werror* makes compiler warnings errors; *source* and *macros* let tests build variants.
    """
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    extension = Extension(
        f"asgi_local.{MODULE}",
        [str(source)],
        define_macros=[("ASGI_LOCAL_SOURCE_HASH", f'"{digest}"'), *macros],
        extra_compile_args=warning_flags(werror=werror),
    )
    command = build_ext(Distribution({"name": "asgi-local", "ext_modules": [extension]}))
    command.build_lib = str(out_dir)
    command.build_temp = str(work_dir)
    command.ensure_finalized()
    command.run()
    (built,) = command.get_outputs()
    return Path(built)


def build_in_place(*, werror: bool = False) -> Path:
    """Compile next to the sources; atomic, so a process with an older build keeps it."""
    target = PACKAGE / f"{MODULE}{sysconfig.get_config_var('EXT_SUFFIX')}"
    with tempfile.TemporaryDirectory(prefix="asgi-local-build-") as work:
        built = compile_extension(Path(work) / "lib", Path(work) / "obj", werror=werror)
        staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(built, staged)
        os.replace(staged, target)
    return target


def _up_to_date() -> bool:
    target = PACKAGE / f"{MODULE}{sysconfig.get_config_var('EXT_SUFFIX')}"
    inputs = (SOURCE, Path(__file__))
    return target.exists() and target.stat().st_mtime >= max(p.stat().st_mtime for p in inputs)


def main(argv: list[str]) -> int:
    """Build in place unless up to date (``--force`` rebuilds); exit 0 either way.

    ``--werror`` makes compiler warnings errors (the build fails, and so does this script).
    """
    unknown = sorted(set(argv) - {"--force", "--werror"})
    if unknown:
        print(f"build_speedups.py: unknown argument(s) {unknown}; use --force and/or --werror")
        return 2
    reason = unsupported_reason()
    if reason is not None:
        print(f"asgi-local: no C accelerator for this interpreter ({reason})")
    elif "--force" in argv or not _up_to_date():
        print(f"asgi-local: built {build_in_place(werror='--werror' in argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
