"""Each distribution builds, and installs alone from a local wheel directory with no index."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

from tests.packaging.conftest import DISTRIBUTIONS, REPO, make_venv, run

NEEDS_TYPING_EXTENSIONS = sys.version_info < (3, 11)
INTERPRETER_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"

# distribution -> (what it must pull in, the import names that must work)
EXPECTED = {
    "asgi-local": ({"asgi-local"}, ["asgi_local"]),
    "asgi-sync": ({"asgi-sync", "asgi-local"}, ["asgi_sync", "asgi_local"]),
    "asgi-wsgi": ({"asgi-wsgi", "asgi-sync", "asgi-local"}, ["asgi_wsgi"]),
    "asgi-stateless-server": (
        {"asgi-stateless-server", "asgi-sync", "asgi-local"},
        ["asgi_stateless_server"],
    ),
    "asgiref-meta": (
        {"asgiref-meta", "asgi-local", "asgi-sync", "asgi-wsgi", "asgi-stateless-server"},
        ["asgiref", "asgiref.sync", "asgiref.local", "asgiref.wsgi", "asgiref.server"],
    ),
}
NEEDS_EXTENSIONS = {"asgi-sync", "asgi-wsgi", "asgi-stateless-server", "asgiref-meta"}
TOOLING = {"pip", "setuptools", "wheel"}


def _installed(python: pathlib.Path) -> set[str]:
    output = run(python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    listing = json.loads(output)
    return {entry["name"].lower().replace("_", "-") for entry in listing} - TOOLING


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_and_sdist_are_built(wheelhouse: pathlib.Path, dist: str) -> None:
    stem = dist.replace("-", "_")
    # asgi-local carries the compiled accelerator, so its wheel is for this interpreter only
    tag = f"{INTERPRETER_TAG}-{INTERPRETER_TAG}-*" if dist == "asgi-local" else "py3-none-any"
    assert len(list(wheelhouse.glob(f"{stem}-*-{tag}.whl"))) == 1
    assert len(list(wheelhouse.glob(f"{stem}-*.whl"))) == 1
    assert len(list(wheelhouse.glob(f"{stem}-*.tar.gz"))) == 1


def test_asgi_local_wheel_has_the_accelerator_for_this_interpreter(
    wheelhouse: pathlib.Path,
) -> None:
    (wheel,) = wheelhouse.glob("asgi_local-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    compiled = [n for n in names if n.startswith("asgi_local/_speedups.") and n.endswith(".so")]
    assert compiled == [f"asgi_local/_speedups{sysconfig.get_config_var('EXT_SUFFIX')}"]
    assert "asgi_local/_speedups.pyi" in names
    assert "asgi_local/_speedups.c" not in names


def test_asgi_local_sdist_has_the_c_source_and_no_binaries(wheelhouse: pathlib.Path) -> None:
    (sdist,) = wheelhouse.glob("asgi_local-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {pathlib.PurePosixPath(n).name for n in archive.getnames()}
    assert {"_speedups.c", "_speedups.pyi", "hatch_build.py", "_pure.py"} <= names
    assert not [n for n in names if n.endswith((".so", ".pyd"))]


def test_asgi_local_builds_pure_python_on_request(tmp_path: pathlib.Path) -> None:
    """ASGI_LOCAL_NO_EXTENSIONS=1 (or a failed compile) gives a working pure-Python wheel."""
    out = tmp_path / "pure"
    env = {**os.environ, "ASGI_LOCAL_NO_EXTENSIONS": "1"}
    source = REPO / "packages" / "asgi-local"
    command = [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, source]
    build = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "building without the C accelerator (ASGI_LOCAL_NO_EXTENSIONS is set)" in (
        build.stdout + build.stderr
    )
    (wheel,) = out.glob("asgi_local-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".so")]
    python = make_venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "--quiet", "--no-index", wheel)
    check = "import asgi_local as a; l = a.Local(); l.x = 1; assert l.x == 1; print(a.SPEEDUPS)"
    assert run(python, "-c", check).strip() == "False"


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_wheel_ships_py_typed_and_no_tests(wheelhouse: pathlib.Path, dist: str) -> None:
    (wheel,) = wheelhouse.glob(f"{dist.replace('-', '_')}-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    import_name = EXPECTED[dist][1][0]
    assert f"{import_name}/py.typed" in names
    assert f"{import_name}/__about__.py" in names
    assert not [n for n in names if n.startswith("tests/")]


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_sdist_carries_changelog_and_readme(wheelhouse: pathlib.Path, dist: str) -> None:
    (sdist,) = wheelhouse.glob(f"{dist.replace('-', '_')}-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {pathlib.PurePosixPath(n).name for n in archive.getnames()}
    assert {"CHANGELOG.md", "README.md", "pyproject.toml", "py.typed"} <= names


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_installs_alone_with_exactly_its_dependencies(
    wheelhouse: pathlib.Path, tmp_path: pathlib.Path, dist: str
) -> None:
    python = make_venv(tmp_path / "venv")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--find-links",
        wheelhouse,
        dist,
    )
    expected, imports = EXPECTED[dist]
    if NEEDS_TYPING_EXTENSIONS and dist in NEEDS_EXTENSIONS:
        expected = expected | {"typing-extensions"}
    assert _installed(python) == expected
    run(python, "-c", "; ".join(f"import {name}" for name in imports))
    if "asgi-local" in expected:  # installed from the wheel: the accelerator is in use
        assert run(python, "-c", "import asgi_local; print(asgi_local.SPEEDUPS)").strip() == "True"
