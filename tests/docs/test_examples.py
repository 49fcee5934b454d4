"""Every runnable example in the docs runs (fences marked `python`; `py` fences are excerpts).

Each block is written to a file and run in a fresh interpreter, so examples cannot lean on
each other or on the test process's state.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in sorted([DOCS / "index.md", *DOCS.glob("guides/*.md"), DOCS / "migration.md"]):
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        for number, match in enumerate(FENCE.finditer(text), start=1):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(DOCS).as_posix()}:{line}#{number}", match.group(1)))
    return found


def test_docs_have_runnable_examples() -> None:
    assert len(_blocks()) >= 10


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[where for where, _ in _blocks()])
def test_example_runs(where: str, code: str, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"
