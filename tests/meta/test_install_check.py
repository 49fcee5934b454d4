"""A mixed or shadowed asgiref install is reported at import, with what was found and the fix."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import subprocess
import sys

import _asgiref_meta_guard
import pytest

import asgiref
from asgiref._install_check import check_not_mixed

META_SRC = pathlib.Path(asgiref.__file__).resolve().parent
FIX_LINE = "pip uninstall -y asgiref && pip install --force-reinstall --no-deps asgiref-meta"
REAL_INIT = '__version__ = "3.13.0"\n'


def _site(tmp_path: pathlib.Path, *entries: str) -> pathlib.Path:
    site = tmp_path / "site-packages"
    (site / "asgiref").mkdir(parents=True)
    for entry in entries:
        (site / entry).mkdir()
    return site


def test_this_environment_has_no_real_asgiref() -> None:
    """The hatch-test env drops the real asgiref that Django & co. require (UV_OVERRIDE)."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("asgiref")
    assert importlib.metadata.version("django")
    assert "packages/asgiref-meta/src/asgiref" in pathlib.Path(asgiref.__file__).as_posix()


def test_real_metadata_beside_our_files_is_a_mixed_install(tmp_path: pathlib.Path) -> None:
    site = _site(tmp_path, "asgiref-3.13.0.dist-info", "asgiref_meta-3.13.0.dist-info")
    with pytest.raises(ImportError) as caught:
        check_not_mixed(str(site / "asgiref"))
    message = str(caught.value)
    assert message.startswith(
        f"Mixed install: asgiref-meta 3.13.0 and the real asgiref distribution "
        f"(asgiref-3.13.0.dist-info) are both installed in {site}."
    )
    assert FIX_LINE in message
    assert "uv pip uninstall asgiref && uv pip install --reinstall --no-deps asgiref-meta" in (
        message
    )
    assert caught.value.name == "asgiref"


@pytest.mark.parametrize(
    "entries",
    [
        ("asgiref_meta-3.13.0.dist-info",),
        ("asgiref_meta-3.13.0.dist-info", "asgiref_x-1.0.dist-info", "asgi_sync-0.1.0.dist-info"),
        (),
    ],
)
def test_no_false_alarm_without_the_real_metadata(
    tmp_path: pathlib.Path, entries: tuple[str, ...]
) -> None:
    site = _site(tmp_path, *entries)
    check_not_mixed(str(site / "asgiref"))


def test_our_own_init_passes_the_guard() -> None:
    assert _asgiref_meta_guard.diagnose(asgiref.__file__) is None


def test_real_files_written_over_ours_are_reported(tmp_path: pathlib.Path) -> None:
    package = _site(tmp_path) / "asgiref"
    (package / "__init__.py").write_text(REAL_INIT)
    (package / "__about__.py").write_text('__version__ = "3.13.0"\n')  # left over from us
    message = _asgiref_meta_guard.diagnose(str(package / "__init__.py"))
    assert message is not None
    assert message.startswith(
        f"Mixed install: the real asgiref 3.13.0 was installed over asgiref-meta in {package};"
    )
    assert FIX_LINE in message


def test_deleted_init_is_reported(tmp_path: pathlib.Path) -> None:
    package = _site(tmp_path) / "asgiref"
    message = _asgiref_meta_guard.diagnose(None, [str(package)])
    assert message is not None
    assert message.startswith(
        f"`import asgiref` found {package} without asgiref-meta's __init__.py"
    )


def test_real_asgiref_earlier_on_sys_path_is_reported_at_import(tmp_path: pathlib.Path) -> None:
    package = _site(tmp_path) / "asgiref"
    (package / "__init__.py").write_text(REAL_INIT)
    code = "import _asgiref_meta_guard; _asgiref_meta_guard.install(); import asgiref"
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()
    error_line = next(line for line in last if line.startswith("ImportError: "))
    assert error_line == (
        f"ImportError: The real asgiref 3.13.0 at {package} is imported instead of asgiref-meta's "
        f"asgiref at {META_SRC}: it comes first on sys.path and shadows it. Uninstall it from that "
        "location (or drop that directory from PYTHONPATH / sys.path)."
    )
    assert FIX_LINE in result.stderr


def test_guard_steps_aside_after_a_good_import() -> None:
    code = (
        "import sys, _asgiref_meta_guard as g; g.install();"
        "assert g.AsgirefMetaGuard in sys.meta_path; import asgiref;"
        "assert g.AsgirefMetaGuard not in sys.meta_path; print(asgiref.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "3.13.0"), result.stderr
