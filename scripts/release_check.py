"""Check that the five distributions can be released: `hatch run release:check`.

For every distribution under ``packages/``:

1. the dependency ranges between the workspace's distributions admit the versions in the
   workspace (``asgi-sync`` requiring ``asgi-local>=0.1,<0.2`` while asgi-local is 0.2.0
   fails);
2. its CHANGELOG.md has a section for the version being released: ``## X.Y.Z`` (or
   ``## [X.Y.Z]``, a date may follow) with at least one entry. Without ``--tag``, a non-empty
   ``## Unreleased`` section also passes: it becomes the version's section at release time;
3. asgiref-meta's version stays on asgiref's 3.x line (it is the API level it mirrors);
4. the sdist and the wheel build (``python -m build``, the wheel from the sdist);
5. ``twine check --strict`` passes on both;
6. the wheels install alone, with exactly their dependencies, from the local directory
   (the packaging tests, ``tests/packaging/test_wheels.py``, run on these very files).

Then the publishing side:

7. ``actionlint`` finds nothing in ``.github/workflows/``;
8. ``cibuildwheel --print-build-identifiers`` with asgi-local's configuration gives exactly
   the wheel matrix promised (CPython 3.9-3.15 on manylinux and musllinux x86_64/aarch64,
   macOS x86_64/arm64, Windows AMD64), and the release workflow's build legs cover it, with
   the same cibuildwheel version as this environment.

``--tag asgi-sync-v0.2.0`` (what the release workflow passes) also requires that the tag
names a distribution and its workspace version, and the released changelog section.
``--static`` runs the checks that build nothing (1-3, 8's version pin). The steps print
what they check; the exit status is 1 when any fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
META = "asgiref-meta"
TAG = re.compile(r"^(?P<distribution>[a-z][a-z0-9-]*?)-v(?P<version>[0-9][^\s/]*)$")
VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']\s*$""", re.MULTILINE)
HEADING = re.compile(r"^##\s+(?P<title>.+?)\s*$")
ENTRY = re.compile(r"^\s*[-*]\s+\S")

# The wheels promised for asgi-local: CPython 3.9-3.15 (GIL builds) on these platforms.
PYTHONS = ("39", "310", "311", "312", "313", "314", "315")
PLATFORM_TAGS = {
    "linux": ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64", "musllinux_aarch64"),
    "macos": ("macosx_x86_64", "macosx_arm64"),
    "windows": ("win_amd64",),
}
WORKFLOW = Path(".github") / "workflows" / "release.yml"
WHEEL_JOB = "asgi-local-wheels"


@dataclass(frozen=True)
class Distribution:
    """One distribution of the workspace, as its pyproject.toml and __about__.py say."""

    name: str
    version: str
    path: Path
    dependencies: tuple[str, ...]


def expected_build_identifiers(platform: str) -> set[str]:
    """The cibuildwheel identifiers asgi-local must build on *platform*."""
    return {f"cp{py}-{tag}" for py in PYTHONS for tag in PLATFORM_TAGS[platform]}


def load_workspace(root: Path) -> dict[str, Distribution]:
    """Read every ``packages/*/pyproject.toml`` and the version file it points to."""
    workspace: dict[str, Distribution] = {}
    for pyproject in sorted(root.glob("packages/*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        project = data["project"]
        version_file = pyproject.parent / data["tool"]["hatch"]["version"]["path"]
        match = VERSION_LINE.search(version_file.read_text(encoding="utf-8"))
        if match is None:
            message = f'{version_file} has no `__version__ = "..."` line'
            raise ValueError(message)
        name = canonicalize_name(project["name"])
        workspace[name] = Distribution(
            name=name,
            version=match.group(1),
            path=pyproject.parent,
            dependencies=tuple(project.get("dependencies", ())),
        )
    return workspace


def check_ranges(workspace: dict[str, Distribution]) -> list[str]:
    """Each requirement on another workspace distribution admits that one's version."""
    errors = []
    for dist in workspace.values():
        for line in dist.dependencies:
            requirement = Requirement(line)
            target = workspace.get(canonicalize_name(requirement.name))
            if target is None:
                continue
            if not requirement.specifier.contains(target.version, prereleases=True):
                errors.append(
                    f"{dist.name} requires {requirement}, which does not admit the workspace's "
                    f"{target.name} {target.version}: raise the range in "
                    f"{dist.path.name}/pyproject.toml in the commit that bumps {target.name}"
                )
    return errors


def changelog_sections(text: str) -> dict[str, int]:
    """Map each ``## `` heading of a changelog to the number of list entries under it."""
    sections: dict[str, int] = {}
    current: str | None = None
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading is not None:
            current = heading.group("title")
            sections[current] = 0
        elif current is not None and ENTRY.match(line):
            sections[current] += 1
    return sections


def _version_of_heading(title: str) -> str | None:
    # "0.2.0", "[0.2.0]", "0.2.0 - 2026-12-01", "[0.2.0] - 2026-12-01", "0.2.0 (2026-12-01)"
    match = re.match(r"^\[?v?(?P<version>[0-9][^\]\s]*)\]?(\s*(-|\u2013|\().*)?$", title)
    return None if match is None else match.group("version")


def check_changelog(dist: Distribution, *, released: bool) -> list[str]:
    """The changelog has a non-empty section for the version about to be released."""
    path = dist.path / "CHANGELOG.md"
    if not path.is_file():
        return [f"{dist.name}: {path} is missing"]
    sections = changelog_sections(path.read_text(encoding="utf-8"))
    for title, entries in sections.items():
        version = _version_of_heading(title)
        if version is not None and Version(version) == Version(dist.version):
            if entries:
                return []
            return [f"{dist.name}: the changelog section '## {title}' has no entries"]
    if not released and sections.get("Unreleased", 0) > 0:
        return []
    where = f"{dist.path.name}/CHANGELOG.md"
    if released:
        return [
            f"{dist.name}: {where} has no section for {dist.version}: rename '## Unreleased' "
            f"to '## {dist.version} - YYYY-MM-DD' and start a new empty '## Unreleased' above it"
        ]
    return [
        f"{dist.name}: {where} has neither a section for {dist.version} nor entries under "
        "'## Unreleased'"
    ]


def check_meta_version(workspace: dict[str, Distribution]) -> list[str]:
    """asgiref-meta's version is the asgiref API level it mirrors, so it stays on 3.x."""
    meta = workspace.get(META)
    if meta is None:
        return [f"no {META} distribution under packages/"]
    try:
        version = Version(meta.version)
    except InvalidVersion:
        return [f"{META}: {meta.version!r} is not a valid version"]
    if version.major != 3:
        return [
            f"{META} {meta.version} left asgiref's 3.x line: its version is the asgiref API "
            "level it mirrors (asgiref.__version__); keep it at 3.x"
        ]
    return []


def parse_tag(tag: str, workspace: dict[str, Distribution]) -> tuple[Distribution, list[str]]:
    """Split ``asgi-sync-v0.2.0`` into a workspace distribution; errors if it does not fit."""
    match = TAG.match(tag)
    if match is None:
        message = (
            f"tag {tag!r} is not of the form <distribution>-v<version>, for example "
            f"'asgi-sync-v0.2.0'"
        )
        raise ValueError(message)
    name = canonicalize_name(match.group("distribution"))
    dist = workspace.get(name)
    if dist is None:
        known = ", ".join(sorted(workspace))
        message = f"tag {tag!r} names no distribution of the workspace ({known})"
        raise ValueError(message)
    errors = []
    if Version(match.group("version")) != Version(dist.version):
        errors.append(
            f"tag {tag!r} says {name} {match.group('version')}, but the workspace has "
            f"{dist.version}: bump it with `hatch version` in {dist.path.name}/ first"
        )
    return dist, errors


def check_workflow_versions(root: Path, cibuildwheel_version: str) -> list[str]:
    """The workflow builds with the cibuildwheel version this check validated against."""
    text = (root / WORKFLOW).read_text(encoding="utf-8")
    pinned = re.findall(r"pypa/cibuildwheel@v([0-9][0-9.]*)", text)
    if not pinned:
        return [f"{WORKFLOW} does not use pypa/cibuildwheel@v<version>"]
    wrong = sorted({v for v in pinned if v != cibuildwheel_version})
    if wrong:
        return [
            f"{WORKFLOW} uses cibuildwheel {', '.join(wrong)} but the release env has "
            f"{cibuildwheel_version}: pin the same version in both (hatch.toml's release env)"
        ]
    return []


def workflow_wheel_legs(root: Path) -> list[tuple[str, str]]:
    """(platform, archs) of each build leg of the workflow's asgi-local wheel job."""
    import yaml

    workflow = yaml.safe_load((root / WORKFLOW).read_text(encoding="utf-8"))
    job = workflow["jobs"][WHEEL_JOB]
    return [(leg["platform"], leg["archs"]) for leg in job["strategy"]["matrix"]["include"]]


# --- steps that run tools -----------------------------------------------------------------


def _run(command: Iterable[Any], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, **kwargs
    )


def build(workspace: dict[str, Distribution], outdir: Path) -> list[str]:
    """Build each sdist, then each wheel from that sdist, into *outdir*."""
    errors = []
    for dist in workspace.values():
        result = _run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", outdir, dist.path]
        )
        if result.returncode != 0:
            errors.append(f"{dist.name}: build failed\n{result.stdout[-3000:]}{result.stderr}")
    return errors


def twine_check(outdir: Path) -> list[str]:
    files = sorted(outdir.glob("*.whl")) + sorted(outdir.glob("*.tar.gz"))
    result = _run([sys.executable, "-m", "twine", "--no-color", "check", "--strict", *files])
    print(result.stdout.strip())
    return [] if result.returncode == 0 else [f"twine check --strict failed\n{result.stderr}"]


def install_alone(outdir: Path) -> list[str]:
    """The packaging tests, on the files just built."""
    env = {**os.environ, "ASGI_WHEELHOUSE": str(outdir)}
    command = [sys.executable, "-m", "pytest", "tests/packaging/test_wheels.py", "-q"]
    command += ["-p", "no:cacheprovider", "-k", "not pure_python"]
    result = _run(command, cwd=REPO, env=env)
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr)
    if result.returncode != 0:
        return [f"the packaging tests failed on the built files\n{result.stdout[-4000:]}"]
    return []


def actionlint(root: Path) -> list[str]:
    exe = shutil.which("actionlint")
    if exe is None:
        return ["actionlint is not installed (the release env installs it)"]
    workflows = sorted((root / ".github" / "workflows").glob("*.yml"))
    if not workflows:
        return ["no workflow files under .github/workflows"]
    result = _run([exe, "-no-color", *workflows], cwd=root)
    if result.returncode != 0:
        return [f"actionlint found problems\n{result.stdout}{result.stderr}"]
    return []


def cibuildwheel_matrix(root: Path) -> list[str]:
    """cibuildwheel's own reading of asgi-local's configuration gives the promised wheels."""
    errors = []
    package = root / "packages" / "asgi-local"

    def identifiers(platform: str, archs: str | None = None) -> set[str]:
        command = ["cibuildwheel", "--print-build-identifiers", "--platform", platform]
        if archs is not None:
            command += ["--archs", archs]
        result = _run([*command, package], cwd=root)
        if result.returncode != 0:
            errors.append(f"{' '.join(command)} failed\n{result.stderr}")
        return set(result.stdout.split())

    legs = workflow_wheel_legs(root)
    for platform in PLATFORM_TAGS:
        expected = expected_build_identifiers(platform)
        configured = identifiers(platform)
        if configured != expected:
            errors.append(
                f"cibuildwheel on {platform}: missing {sorted(expected - configured)}, "
                f"unexpected {sorted(configured - expected)} (packages/asgi-local/pyproject.toml)"
            )
        built = set().union(*(identifiers(p, a) for p, a in legs if p == platform))
        if built != expected:
            errors.append(
                f"the release workflow's {WHEEL_JOB} legs for {platform} build "
                f"{len(built)} wheels, not the {len(expected)} configured: missing "
                f"{sorted(expected - built)}"
            )
        print(f"  {platform}: {len(configured)} wheels ({', '.join(sorted(configured)[:2])}, ...)")
    return errors


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="the release tag, for example asgi-sync-v0.2.0")
    parser.add_argument("--outdir", type=Path, default=REPO / "dist", help="default: dist/")
    parser.add_argument("--static", action="store_true", help="only the checks that build nothing")
    args = parser.parse_args(argv)

    workspace = load_workspace(REPO)
    failures: list[str] = []

    def step(title: str, errors: list[str]) -> None:
        print(f"{'ok  ' if not errors else 'FAIL'} {title}")
        for error in errors:
            print(f"     {error}")
        failures.extend(errors)

    released: Distribution | None = None
    if args.tag:
        try:
            released, errors = parse_tag(args.tag, workspace)
        except ValueError as exc:
            errors = [str(exc)]
        step(f"tag {args.tag} matches the workspace", errors)
    versions = ", ".join(f"{d.name} {d.version}" for d in workspace.values())
    step(f"dependency ranges admit the workspace ({versions})", check_ranges(workspace))
    for dist in workspace.values():
        is_released = released is not None and dist.name == released.name
        mode = "released section" if is_released else "section or Unreleased entries"
        step(f"{dist.name}: changelog ({mode})", check_changelog(dist, released=is_released))
    step(f"{META} stays on asgiref's 3.x line", check_meta_version(workspace))
    from importlib.metadata import version

    step(
        "the workflow pins this env's cibuildwheel",
        check_workflow_versions(REPO, version("cibuildwheel")),
    )
    if not args.static:
        outdir = args.outdir.resolve()
        if outdir.exists():
            shutil.rmtree(outdir)
        outdir.mkdir(parents=True)
        step(f"sdists and wheels build into {outdir}", build(workspace, outdir))
        step("twine check --strict", twine_check(outdir))
        step("each wheel installs alone from that directory", install_alone(outdir))
        step("actionlint .github/workflows/*.yml", actionlint(REPO))
        step("cibuildwheel build matrix of asgi-local", cibuildwheel_matrix(REPO))
    if failures:
        print(f"release check FAILED ({len(failures)} problem(s))")
        return 1
    print("release check passed" + (f" for {args.tag}" if args.tag else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
