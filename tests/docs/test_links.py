"""Every internal link and anchor of the built site resolves (run after `mkdocs build`)."""

from __future__ import annotations

import html.parser
import pathlib
import posixpath
import urllib.parse

import pytest

SITE = pathlib.Path(__file__).resolve().parents[2] / "site"


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))


def _parse(page: pathlib.Path) -> _Collector:
    collector = _Collector()
    collector.feed(page.read_text(encoding="utf-8"))
    return collector


def _pages() -> list[pathlib.Path]:
    return sorted(p for p in SITE.rglob("*.html") if "assets" not in p.parts)


def _target(page: pathlib.Path, href: str) -> tuple[pathlib.Path, str] | None:
    parsed = urllib.parse.urlsplit(href)
    if parsed.scheme or parsed.netloc or href.startswith(("mailto:", "javascript:")):
        return None
    if not parsed.path:
        return page, parsed.fragment
    base = "" if parsed.path.startswith("/") else page.parent.relative_to(SITE).as_posix()
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    relative = posixpath.normpath(posixpath.join(base, path))
    target = SITE / relative
    if target.is_dir() or parsed.path.endswith("/"):
        target = target / "index.html"
    return target, parsed.fragment


def test_site_was_built() -> None:
    assert (SITE / "index.html").is_file(), "run `hatch run docs:build` first"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(SITE).as_posix())
def test_internal_links_resolve(page: pathlib.Path) -> None:
    broken: list[str] = []
    for href in _parse(page).links:
        target = _target(page, href)
        if target is None:
            continue
        path, fragment = target
        if not path.exists():
            broken.append(f"{href} (no file {path.relative_to(SITE)})")
        elif fragment and path.suffix == ".html" and fragment not in _parse(path).ids:
            broken.append(f"{href} (no anchor #{fragment})")
    assert broken == []
