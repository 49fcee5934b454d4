"""Every public module of every package declares `__all__`, and it tells the truth."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

PACKAGES = ("asgi_local", "asgi_sync", "asgi_wsgi", "asgi_stateless_server", "asgiref")


def _public_modules() -> list[str]:
    names: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_module_declares_all_as_tuple(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, "__all__", None), tuple), module_name


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def _owning_modules() -> list[str]:
    # Alias modules (asgiref.sync is asgi_sync) are checked under their canonical name.
    return [name for name in _public_modules() if importlib.import_module(name).__name__ == name]


@pytest.mark.parametrize("module_name", _owning_modules())
def test_public_objects_defined_here_are_in_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    undeclared = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) == module_name
        and name not in module.__all__
    ]
    assert undeclared == []


@pytest.mark.parametrize("package_name", PACKAGES)
def test_version_is_exposed(package_name: str) -> None:
    package = importlib.import_module(package_name)
    about = importlib.import_module(f"{package_name}.__about__")
    assert package.__version__ == about.__version__
