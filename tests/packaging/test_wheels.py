"""Each distribution builds, and installs alone from a local wheel directory with no index."""

from __future__ import annotations

import json
import pathlib
import sys
import tarfile
import zipfile

import pytest

from tests.packaging.conftest import DISTRIBUTIONS, make_venv, run

NEEDS_TYPING_EXTENSIONS = sys.version_info < (3, 11)

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
    assert len(list(wheelhouse.glob(f"{stem}-*-py3-none-any.whl"))) == 1
    assert len(list(wheelhouse.glob(f"{stem}-*.tar.gz"))) == 1


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
