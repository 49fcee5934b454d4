"""Building the C accelerator: warnings on, no warning in our source, a clean failed init.

Each test compiles into its own temporary directory with this interpreter's compiler
settings (`build_speedups.compile_extension`), so the module in use is never touched.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.local.test_implementations import ACCELERATED_PLATFORM, ROOT, SOURCE

pytestmark = [
    pytest.mark.skipif(not ACCELERATED_PLATFORM, reason="no accelerator on this interpreter"),
    pytest.mark.timeout(180),
]


def load_builder() -> ModuleType:
    """`packages/asgi-local/build_speedups.py`, as the build hook loads it."""
    path = ROOT / "packages" / "asgi-local" / "build_speedups.py"
    spec = importlib.util.spec_from_file_location("build_speedups_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_source_compiles_with_warnings_as_errors(tmp_path: Path) -> None:
    builder = load_builder()
    built = builder.compile_extension(tmp_path / "lib", tmp_path / "obj", werror=True)
    assert built.exists()


def test_a_warning_fails_the_test_build(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """-Wextra is on (an unused parameter is one of its warnings) and -Werror applies."""
    from setuptools.errors import CompileError

    builder = load_builder()
    source = tmp_path / "_speedups.c"
    probe = (
        "int asgi_local_build_probe(int ignored);\n"
        "int asgi_local_build_probe(int ignored) { return 0; }\n"
    )
    source.write_text(SOURCE.read_text() + probe)
    with pytest.raises(CompileError):
        builder.compile_extension(tmp_path / "lib", tmp_path / "obj", werror=True, source=source)
    assert "unused parameter" in capfd.readouterr().err
    # the same source builds when warnings are not errors (the wheel build)
    built = builder.compile_extension(tmp_path / "lib2", tmp_path / "obj2", source=source)
    assert built.exists()


FAILING_IMPORT = """
import importlib.machinery, importlib.util, sys

path = sys.argv[1]
names = [sys.intern("".join(["asgi_local._speedups.", "thread_token"])), "__dict__"]
before = [sys.getrefcount(name) for name in names]
for attempt in range(5):
    loader = importlib.machinery.ExtensionFileLoader("asgi_local._speedups", path)
    spec = importlib.util.spec_from_file_location("asgi_local._speedups", path, loader=loader)
    try:
        importlib.util.module_from_spec(spec)
    except ImportError as exc:
        assert "init failure injected by a test" in str(exc), exc
    else:
        raise AssertionError("the module init did not fail")
after = [sys.getrefcount(name) for name in names]
print([a - b for a, b in zip(after, before)])
print(all(count > 2**28 for count in before))
"""


def test_a_failed_module_init_releases_its_interned_names(tmp_path: Path) -> None:
    """A test build fails its init after every step; repeated imports must not leak."""
    builder = load_builder()
    built = builder.compile_extension(
        tmp_path / "lib",
        tmp_path / "obj",
        werror=True,
        macros=(("ASGI_LOCAL_TEST_FAIL_INIT", "1"),),
    )
    run = subprocess.run(
        [sys.executable, "-c", FAILING_IMPORT, str(built)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    leaked, immortal = run.stdout.split("\n")[:2]
    if immortal == "True":  # pragma: no cover - Python 3.12 makes every interned str immortal
        pytest.skip("interned strings are immortal on this Python: their counts cannot move")
    assert leaked == "[0, 0]"
