"""Startup guard of asgiref-meta, loaded by `asgiref_meta_guard.pth`.

It watches for the first `import asgiref` in the process. If the package that import would
load is not asgiref-meta's (the real asgiref was installed over it, shadows it from an
earlier `sys.path` entry, or left it without its `__init__.py`), the import raises
`ImportError` saying what was found and how to fix it, instead of running the real asgiref
next to the asgi-* packages as two separate sets of objects. After one successful check it
removes itself from `sys.meta_path`. At startup it imports nothing beyond `os` and `sys`,
which are loaded already (about 0.5 ms with its bytecode cached).
"""

import os
import sys

# Neither typing nor __future__ is imported at startup (annotations are strings); type
# checkers take this branch.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

__all__ = ("AsgirefMetaGuard", "diagnose", "install")

# The first line of asgiref-meta's asgiref/__init__.py names the distribution.
_MARKER = "(asgiref-meta)"
_FIX = (
    "Remove the real asgiref and restore asgiref-meta's files:\n"
    "    pip uninstall -y asgiref && pip install --force-reinstall --no-deps asgiref-meta\n"
    "or with uv:\n"
    "    uv pip uninstall asgiref && uv pip install --reinstall --no-deps asgiref-meta\n"
    "To install Django, Channels or Daphne without pulling the real asgiref back in, use the "
    "install recipes in asgiref-meta's README."
)


def diagnose(origin: "str | None", locations: "Sequence[str]" = ()) -> "str | None":
    """Return what is wrong with the `asgiref` package at `origin`, or None if it is ours.

    Args:
        origin: The `__init__.py` the import would run (None for a namespace package).
        locations: The package's search locations (used when there is no `__init__.py`).
    """
    if origin is None or os.path.basename(origin) != "__init__.py":
        where = ", ".join(locations) or "an unknown location"
        return (
            f"`import asgiref` found {where} without asgiref-meta's __init__.py: its files "
            "were removed, most likely by uninstalling the real asgiref, which owns the same "
            "paths.\n" + _FIX
        )
    try:
        with open(origin, encoding="utf-8") as file:
            text = file.read(4096)
    except OSError:
        return None
    if _MARKER in text:
        return None
    import re  # only on the error path

    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    real = f"the real asgiref {match.group(1)}" if match else "a foreign asgiref package"
    package_dir = os.path.dirname(origin)
    if os.path.exists(os.path.join(package_dir, "__about__.py")):
        # asgiref-meta's __about__.py survived: the real asgiref's files were written over ours.
        return (
            f"Mixed install: {real} was installed over asgiref-meta in {package_dir}; its files "
            "replaced asgiref-meta's, so asgiref.sync would no longer be asgi_sync.\n" + _FIX
        )
    ours = _find_ours(package_dir)
    where = f"asgiref-meta's asgiref at {ours}" if ours else "asgiref-meta's asgiref"
    return (
        f"{real[0].upper()}{real[1:]} at {package_dir} is imported instead of {where}: it "
        "comes first on sys.path and shadows it. Uninstall it from that location (or drop "
        f"that directory from PYTHONPATH / sys.path).\n{_FIX}"
    )


def _find_ours(exclude: str) -> "str | None":
    # Only on the error path: look along sys.path for asgiref-meta's package directory.
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, "asgiref")
        if os.path.normcase(candidate) == os.path.normcase(exclude):
            continue
        try:
            with open(os.path.join(candidate, "__init__.py"), encoding="utf-8") as file:
                if _MARKER in file.read(4096):
                    return candidate
        except OSError:
            continue
    return None


class AsgirefMetaGuard:
    """A `sys.meta_path` finder that checks the first import of `asgiref`."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: "Sequence[str] | None" = None, target: "Any" = None
    ) -> "Any":
        """Find `asgiref` with the other finders and raise `ImportError` if it is not ours."""
        if fullname != "asgiref":
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is cls or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None:
            return None
        problem = diagnose(spec.origin, list(spec.submodule_search_locations or ()))
        if problem is not None:
            raise ImportError(problem, name="asgiref")
        uninstall()
        return spec


def install() -> None:
    """Put the guard first on `sys.meta_path` (idempotent); the `.pth` file calls this."""
    if "asgiref" not in sys.modules and AsgirefMetaGuard not in sys.meta_path:
        sys.meta_path.insert(0, AsgirefMetaGuard)


def uninstall() -> None:
    """Remove the guard from `sys.meta_path`."""
    while AsgirefMetaGuard in sys.meta_path:
        sys.meta_path.remove(AsgirefMetaGuard)
