"""The mermaid diagrams of the docs are rendered in the reader's browser, so a syntax slip
only shows there. These checks catch the slips mermaid's parser is known to reject.

They were written after rendering every diagram once with mermaid-cli: a `;` inside a
sequence-diagram message ended the statement and broke the whole diagram.
"""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
KINDS = ("sequenceDiagram", "flowchart", "graph", "stateDiagram-v2", "classDiagram")
QUOTED = re.compile(r'"[^"]*"')


def _diagrams() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(DOCS).as_posix()}:{line}", match.group(1)))
    return found


DIAGRAMS = _diagrams()


def test_docs_have_diagrams() -> None:
    assert len(DIAGRAMS) >= 5


@pytest.mark.parametrize(("where", "source"), DIAGRAMS, ids=[w for w, _ in DIAGRAMS])
def test_diagram_parses_as_far_as_known_slips_go(where: str, source: str) -> None:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    assert lines[0].split()[0] in KINDS, f"{where}: unknown diagram type {lines[0]!r}"
    for line in lines[1:]:
        unquoted = QUOTED.sub("", line)
        assert ";" not in unquoted, f"{where}: ';' ends a mermaid statement: {line!r}"
    if lines[0] == "sequenceDiagram":
        declared = {m.group(1) for line in lines if (m := re.match(r"participant (\w+)", line))}
        for line in lines[1:]:
            arrow = re.match(r"(\w+)\s*-[->x)]*>*[+-]?\s*(\w+)\s*:", line)
            if arrow:
                assert {arrow.group(1), arrow.group(2)} <= declared, f"{where}: {line!r}"
