"""The release check's rules (scripts/release_check.py), each shown failing on a bad input.

These build nothing; `hatch run release:check` runs the rules on the real tree and then
builds, checks and installs the files (docs/releasing.md).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


release_check = _load("release_check")
local_wheels = _load("local_wheels")
Distribution = release_check.Distribution


def _dist(tmp_path: Path, name: str, version: str, *deps: str, changelog: str = "") -> object:
    path = tmp_path / name
    path.mkdir()
    if changelog:
        (path / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return Distribution(name=name, version=version, path=path, dependencies=deps)


CHANGELOG_UNRELEASED = """# Changelog

## Unreleased

### Added

- Something.
"""


def test_the_workspace_passes_the_rules_that_build_nothing() -> None:
    workspace = release_check.load_workspace(REPO)
    assert set(workspace) == {
        "asgi-local",
        "asgi-sync",
        "asgi-wsgi",
        "asgi-stateless-server",
        "asgiref-meta",
    }
    assert release_check.check_ranges(workspace) == []
    assert release_check.check_meta_version(workspace) == []
    for dist in workspace.values():
        assert release_check.check_changelog(dist, released=False) == [], dist.name


def test_a_range_that_excludes_a_bumped_dependency_fails(tmp_path: Path) -> None:
    workspace = {
        "asgi-local": _dist(tmp_path, "asgi-local", "0.2.0"),
        "asgi-sync": _dist(tmp_path, "asgi-sync", "0.1.0", "asgi-local>=0.1,<0.2", "other>=1"),
    }
    (error,) = release_check.check_ranges(workspace)
    assert error.startswith(
        "asgi-sync requires asgi-local<0.2,>=0.1, which does not admit the workspace's "
        "asgi-local 0.2.0: raise the range in asgi-sync/pyproject.toml"
    )
    workspace["asgi-sync"] = _dist(tmp_path, "sync2", "0.1.0", "asgi-local>=0.2,<0.3")
    assert release_check.check_ranges(workspace) == []


def test_a_release_needs_a_changelog_section_for_its_version(tmp_path: Path) -> None:
    dist = _dist(tmp_path, "asgi-sync", "0.2.0", changelog=CHANGELOG_UNRELEASED)
    assert release_check.check_changelog(dist, released=False) == []
    (error,) = release_check.check_changelog(dist, released=True)
    assert "asgi-sync/CHANGELOG.md has no section for 0.2.0: rename '## Unreleased'" in error


@pytest.mark.parametrize(
    "heading", ["## 0.2.0", "## [0.2.0]", "## 0.2.0 - 2026-12-01", "## [0.2.0] - 2026-12-01"]
)
def test_a_released_section_passes_in_any_keep_a_changelog_spelling(
    tmp_path: Path, heading: str
) -> None:
    text = f"# Changelog\n\n## Unreleased\n\n{heading}\n\n### Fixed\n\n- A bug.\n\n## 0.1.0\n"
    dist = _dist(tmp_path, "asgi-sync", "0.2.0", changelog=text)
    assert release_check.check_changelog(dist, released=True) == []


def test_an_empty_or_other_version_section_fails(tmp_path: Path) -> None:
    empty = _dist(tmp_path, "a", "0.2.0", changelog="## 0.2.0\n\n## 0.1.0\n\n- Old.\n")
    (error,) = release_check.check_changelog(empty, released=True)
    assert error == "a: the changelog section '## 0.2.0' has no entries"
    other = _dist(tmp_path, "b", "0.2.0", changelog="## 0.1.0\n\n- Old.\n")
    assert release_check.check_changelog(other, released=True) != []
    assert release_check.check_changelog(other, released=False) != []  # no Unreleased either
    missing = _dist(tmp_path, "c", "0.2.0")
    (error,) = release_check.check_changelog(missing, released=False)
    assert error.endswith("CHANGELOG.md is missing")


def test_asgiref_meta_must_stay_on_the_3x_line(tmp_path: Path) -> None:
    assert release_check.check_meta_version({"asgiref-meta": _dist(tmp_path, "m", "3.14.0")}) == []
    (error,) = release_check.check_meta_version({"asgiref-meta": _dist(tmp_path, "n", "4.0.0")})
    assert error.startswith("asgiref-meta 4.0.0 left asgiref's 3.x line")
    assert release_check.check_meta_version({}) == ["no asgiref-meta distribution under packages/"]


def test_the_tag_names_a_distribution_and_its_workspace_version(tmp_path: Path) -> None:
    workspace = {
        "asgi-sync": _dist(tmp_path, "asgi-sync", "0.2.0"),
        "asgi-stateless-server": _dist(tmp_path, "asgi-stateless-server", "0.1.0"),
    }
    dist, errors = release_check.parse_tag("asgi-sync-v0.2.0", workspace)
    assert (dist.name, errors) == ("asgi-sync", [])
    dist, errors = release_check.parse_tag("asgi-stateless-server-v0.1.0", workspace)
    assert (dist.name, errors) == ("asgi-stateless-server", [])
    _, errors = release_check.parse_tag("asgi-sync-v0.3.0", workspace)
    assert errors == [
        "tag 'asgi-sync-v0.3.0' says asgi-sync 0.3.0, but the workspace has 0.2.0: bump it "
        "with `hatch version` in asgi-sync/ first"
    ]
    with pytest.raises(ValueError, match=r"names no distribution of the workspace"):
        release_check.parse_tag("asgi-foo-v0.1.0", workspace)
    with pytest.raises(ValueError, match=r"is not of the form <distribution>-v<version>"):
        release_check.parse_tag("v0.2.0", workspace)


def test_the_promised_wheel_matrix() -> None:
    linux = release_check.expected_build_identifiers("linux")
    assert len(linux) == 7 * 4
    assert {"cp39-musllinux_aarch64", "cp315-manylinux_x86_64"} <= linux
    assert release_check.expected_build_identifiers("macos") >= {"cp313-macosx_arm64"}
    assert len(release_check.expected_build_identifiers("windows")) == 7


def test_the_workflow_pins_the_release_envs_cibuildwheel() -> None:
    hatch_toml = (REPO / "hatch.toml").read_text(encoding="utf-8")
    match = re.search(r'"cibuildwheel==([0-9.]+)"', hatch_toml)
    assert match is not None
    assert release_check.check_workflow_versions(REPO, match.group(1)) == []
    (error,) = release_check.check_workflow_versions(REPO, "0.0.1")
    assert "pin the same version in both" in error


def test_the_local_wheel_build_covers_the_hatch_test_matrix() -> None:
    versions = local_wheels.matrix_pythons(REPO / "hatch.toml")
    assert {"3.9", "3.13"} <= set(versions)
    found = local_wheels.find_interpreters()
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in found
