"""Refuse to run from a directory where the real asgiref is installed too (a mixed install)."""

from __future__ import annotations

import os
import re

from asgiref.__about__ import __version__

# Real asgiref metadata beside our files: "asgiref-3.13.0.dist-info" (ours is "asgiref_meta-...").
_REAL_METADATA = re.compile(r"^asgiref-[^-]+\.(dist-info|egg-info)$", re.IGNORECASE)

FIX = (
    "Remove the real asgiref and restore asgiref-meta's files:\n"
    "    pip uninstall -y asgiref && pip install --force-reinstall --no-deps asgiref-meta\n"
    "or with uv:\n"
    "    uv pip uninstall asgiref && uv pip install --reinstall --no-deps asgiref-meta\n"
    "To install Django, Channels or Daphne without pulling the real asgiref back in, use the "
    "install recipes in asgiref-meta's README."
)


def find_real_metadata(site_dir: str) -> list[str]:
    """Return the real asgiref's metadata directories found in `site_dir`, sorted."""
    try:
        entries = os.listdir(site_dir)
    except OSError:
        return []
    return sorted(name for name in entries if _REAL_METADATA.match(name))


def check_not_mixed(package_dir: str | None = None) -> None:
    """Raise `ImportError` if the real asgiref is installed into the same directory as us.

    Args:
        package_dir: The `asgiref` package directory to check; defaults to this package's.

    Raises:
        ImportError: The real asgiref's metadata sits beside asgiref-meta's files; the
            message names it and gives the commands that repair the environment.
    """
    if package_dir is None:
        package_dir = os.path.dirname(os.path.abspath(__file__))
    site_dir = os.path.dirname(package_dir)
    found = find_real_metadata(site_dir)
    if not found:
        return
    message = (
        f"Mixed install: asgiref-meta {__version__} and the real asgiref distribution "
        f"({', '.join(found)}) are both installed in {site_dir}. Both write the same asgiref/ "
        "files, so which file belongs to whom depends on install order, and uninstalling "
        "either one deletes files of the other.\n" + FIX
    )
    raise ImportError(message, name="asgiref")
