"""The documented one-line recipes install Django with asgiref-meta and without the real asgiref.

Each test builds a fresh venv, runs the recipe (our distributions from the local wheelhouse,
Django and its other dependencies from the package index), and checks what ended up
installed and that Django runs an async view through asgiref-meta. Then it clobbers the
install with the real asgiref and checks that importing asgiref says so, and that the
documented repair works.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from tests.packaging.conftest import DISTRIBUTIONS, make_venv, run

pytestmark = pytest.mark.timeout(300)

OVERRIDE = 'asgiref ; sys_platform == "never"\n'
PIP_REPAIR = "pip uninstall -y asgiref && pip install --force-reinstall --no-deps asgiref-meta"

# Django runs an async view with asgiref-meta's asgiref; prints where asgiref came from.
SMOKE = """
import asyncio, asgiref, asgiref.sync, asgi_sync, django
from django.conf import settings
settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="x")
django.setup()
from django.http import HttpResponse
from django.urls import path
async def view(request):
    return HttpResponse("async ok")
urlpatterns = [path("", view)]
from django.test import AsyncClient
response = asyncio.run(AsyncClient().get("/"))
assert response.content == b"async ok", response.content
assert asgiref.sync is asgi_sync
print(asgiref.__file__)
"""


def _wheels(wheelhouse: pathlib.Path) -> list[str]:
    """Our five wheels as files, so the index can never supply a same-named project."""
    return [str(next(wheelhouse.glob(f"{d.replace('-', '_')}-*.whl"))) for d in DISTRIBUTIONS]


def _installed(python: pathlib.Path) -> set[str]:
    listing = run(python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    return {entry["name"].lower().replace("_", "-") for entry in json.loads(listing)}


def _assert_django_on_meta(python: pathlib.Path, venv: pathlib.Path) -> None:
    installed = _installed(python)
    assert {"django", "asgiref-meta", "asgi-sync", "asgi-local"} <= installed
    assert "asgiref" not in installed
    where = run(python, "-c", SMOKE).strip()
    assert where.startswith(str(venv)), where


def _import_error(python: pathlib.Path) -> str:
    command = [str(python), "-c", "import asgiref"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def test_pip_recipe(wheelhouse: pathlib.Path, tmp_path: pathlib.Path) -> None:
    venv = tmp_path / "venv"
    python = make_venv(venv)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    ours = _wheels(wheelhouse)
    # The recipe: pip install django asgiref-meta && pip uninstall -y asgiref
    #             && pip install --force-reinstall --no-deps asgiref-meta
    run(*pip, "install", "--find-links", wheelhouse, "django", *ours)
    run(*pip, "uninstall", "-y", "asgiref")
    run(*pip, "install", "--force-reinstall", "--no-deps", ours[-1])
    _assert_django_on_meta(python, venv)

    # Clobbered later by a plain `pip install asgiref`: importing asgiref says so.
    run(*pip, "install", "asgiref")
    message = _import_error(python)
    assert "the real asgiref" in message
    assert "was installed over asgiref-meta" in message
    assert f"{PIP_REPAIR}\n" in message

    # The repair the message gives (asgiref-meta from our wheel instead of the index).
    run(*pip, "uninstall", "-y", "asgiref")
    run(*pip, "install", "--force-reinstall", "--no-deps", ours[-1])
    _assert_django_on_meta(python, venv)


def test_pip_recipe_mixed_the_other_way_round_is_reported(
    wheelhouse: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """asgiref-meta installed over the real one: our files win, the metadata says mixed."""
    venv = tmp_path / "venv"
    python = make_venv(venv)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run(*pip, "install", "asgiref")
    run(*pip, "install", "--find-links", wheelhouse, *_wheels(wheelhouse))
    message = _import_error(python)
    assert "Mixed install: asgiref-meta" in message
    assert "and the real asgiref distribution (asgiref-" in message


def test_uv_recipe(wheelhouse: pathlib.Path, tmp_path: pathlib.Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    # The recipe: echo 'asgiref ; sys_platform == "never"' |
    #             uv pip install --overrides /dev/stdin django asgiref-meta
    recipe = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python),
         "--overrides", "/dev/stdin", "--find-links", str(wheelhouse),
         "django", *_wheels(wheelhouse)],
        input=OVERRIDE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert recipe.returncode == 0, recipe.stderr
    run(python, "-m", "ensurepip", "--default-pip")  # only for `pip list` in the check below
    _assert_django_on_meta(python, venv)
