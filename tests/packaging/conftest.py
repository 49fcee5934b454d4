"""Build every distribution once per session into a local wheel directory.

With ``ASGI_WHEELHOUSE=DIR`` set, the tests use the sdists and wheels already in DIR instead
(the release check builds them once, then runs these tests on the very files it uploads).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ("asgi-local", "asgi-sync", "asgi-wsgi", "asgi-stateless-server", "asgiref-meta")


def run(*args: str | pathlib.Path, cwd: pathlib.Path | None = None) -> str:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        command = " ".join(map(str, args))
        pytest.fail(f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Wheels and sdists of all five distributions, plus typing_extensions for old Pythons."""
    out = tmp_path_factory.mktemp("wheelhouse")
    prebuilt = os.environ.get("ASGI_WHEELHOUSE")
    for dist in DISTRIBUTIONS:
        if prebuilt:
            for built in pathlib.Path(prebuilt).glob(f"{dist.replace('-', '_')}-*"):
                shutil.copy(built, out)
            continue
        # sdist first, then the wheel built from that sdist: proves the sdist is complete.
        source = REPO / "packages" / dist
        run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source)
    if sys.version_info < (3, 11):
        run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            out,
            "typing_extensions>=4.6",
        )
    return out


def make_venv(where: pathlib.Path) -> pathlib.Path:
    """Create a fresh venv and return its python."""
    run(sys.executable, "-m", "venv", where)
    return where / "bin" / "python"
