"""Build asgi-local's wheel for every CPython here and import each with the accelerator on.

`hatch run release:wheels` (the release env). The interpreters are the ``python3.X`` found
on PATH (X from 9 up). Every Python of the hatch-test matrix in hatch.toml must be among
them, so a matrix that grows (3.14, 3.15) is covered as soon as its interpreters are on PATH,
and a missing one fails loudly instead of being skipped. For each interpreter:

1. ``uv build --wheel --python python3.X packages/asgi-local`` (an isolated build);
2. the wheel must be tagged for that interpreter (``cp3X-cp3X-<platform>``) and carry the
   compiled ``asgi_local/_speedups`` module;
3. a fresh venv of that interpreter installs the wheel alone from the local directory, and
   imports it: ``asgi_local.SPEEDUPS`` must be True and a `Local` must work.

Usage: ``python scripts/local_wheels.py [--outdir DIR]`` (default ``dist/wheels-local``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "packages" / "asgi-local"
PROBE = (
    "import sys, sysconfig; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', "
    "sys.implementation.name, bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"
)
CHECK = (
    "import sys, asgi_local; l = asgi_local.Local(); l.x = 1; assert l.x == 1; "
    "print(sys.version.split()[0], asgi_local.SPEEDUPS, asgi_local._speedups.__file__ "
    "if asgi_local.SPEEDUPS else '-')"
)


def _run(command: list[Any], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, **kwargs
    )


def matrix_pythons(hatch_toml: Path) -> list[str]:
    """The Python versions of the hatch-test matrix."""
    data = tomllib.loads(hatch_toml.read_text(encoding="utf-8"))
    versions: list[str] = []
    for entry in data["envs"]["hatch-test"]["matrix"]:
        versions.extend(str(v) for v in entry.get("python", ()))
    return versions


def find_interpreters(highest_minor: int = 20) -> dict[str, str]:
    """``{"3.X": path}`` for each ``python3.X`` on PATH that runs and is a GIL CPython."""
    found: dict[str, str] = {}
    for minor in range(9, highest_minor + 1):
        path = shutil.which(f"python3.{minor}")
        if path is None:
            continue
        probe = _run([path, "-c", PROBE], timeout=60)
        if probe.returncode != 0:
            continue  # e.g. a pyenv shim for a version that is not selected
        version, implementation, free_threaded = probe.stdout.split()
        if implementation == "cpython" and free_threaded == "False" and version == f"3.{minor}":
            found[version] = path
    return found


def build_and_check(version: str, python: str, outdir: Path) -> tuple[bool, str]:
    """Build, inspect, install alone and import one interpreter's wheel."""
    target = outdir / version
    shutil.rmtree(target, ignore_errors=True)
    built = _run(
        ["uv", "build", "--wheel", "--python", python, "--out-dir", target, PACKAGE], timeout=600
    )
    if built.returncode != 0:
        return False, f"build failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}"
    wheels = list(target.glob("asgi_local-*.whl"))
    if len(wheels) != 1:
        return False, f"expected one wheel in {target}, found {[w.name for w in wheels]}"
    wheel = wheels[0]
    tag = "cp" + version.replace(".", "")
    if not re.search(rf"-{tag}-{tag}-[a-z0-9_]+\.whl$", wheel.name):
        return False, f"{wheel.name} is not tagged for CPython {version} (no accelerator built?)"
    names = zipfile.ZipFile(wheel).namelist()
    if not any(re.match(r"asgi_local/_speedups\.[^/]+\.(so|pyd)$", n) for n in names):
        return False, f"{wheel.name} has no compiled asgi_local/_speedups module"
    with tempfile.TemporaryDirectory(prefix="asgi-local-wheel-") as work:
        venv = Path(work) / "venv"
        steps = [
            ["uv", "venv", "--quiet", "--python", python, venv],
            ["uv", "pip", "install", "--quiet", "--python", venv, "--no-index", wheel],
        ]
        for step in steps:
            result = _run(step, timeout=300)
            if result.returncode != 0:
                return False, f"{' '.join(map(str, step))} failed:\n{result.stderr[-2000:]}"
        bindir = "Scripts" if sys.platform == "win32" else "bin"
        # -I: the installed wheel, never a checkout next to the current directory
        imported = _run([venv / bindir / "python", "-I", "-c", CHECK], cwd=work, timeout=60)
    if imported.returncode != 0:
        return False, f"import failed:\n{imported.stderr[-2000:]}"
    full_version, speedups, module = imported.stdout.split()
    if speedups != "True":
        return False, f"{wheel.name} imports with SPEEDUPS = {speedups}"
    return True, f"{wheel.name:<52} Python {full_version:<8} SPEEDUPS=True  {Path(module).name}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=REPO / "dist" / "wheels-local")
    args = parser.parse_args(argv)

    if shutil.which("uv") is None:
        print("uv is not on PATH (the release env installs it)")
        return 1
    required = matrix_pythons(REPO / "hatch.toml")
    found = find_interpreters()
    missing = [v for v in required if v not in found]
    versions = sorted(set(required) | set(found), key=lambda v: tuple(map(int, v.split("."))))
    print(f"hatch-test matrix: {', '.join(required)}; python3.X on PATH: {', '.join(found)}")
    failed = [f"python{v}: in the hatch-test matrix but not on PATH" for v in missing]
    for version in versions:
        if version not in found:
            continue
        ok, message = build_and_check(version, found[version], args.outdir.resolve())
        print(f"{'ok  ' if ok else 'FAIL'} {version:<5} {message}")
        if not ok:
            failed.append(f"python{version}: {message.splitlines()[0]}")
    built = len(versions) - len(missing)
    if failed:
        print(f"asgi-local wheels FAILED: {'; '.join(failed)}")
        return 1
    print(f"asgi-local wheels: {built} interpreters, each imports with the accelerator on")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
