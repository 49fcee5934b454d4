"""asgiref.X is the asgi-* module itself: one set of objects, whichever name is imported."""

from __future__ import annotations

import importlib
import sys
from unittest import mock

import pytest

import asgiref

ALIASES = {
    "asgiref.sync": "asgi_sync",
    "asgiref.local": "asgi_local",
    "asgiref.server": "asgi_stateless_server",
    "asgiref.wsgi": "asgi_wsgi",
    "asgiref.compatibility": "asgi_sync.compatibility",
    "asgiref.current_thread_executor": "asgi_sync.current_thread_executor",
    "asgiref.typing": "asgi_sync.typing",
}


@pytest.mark.parametrize(("alias", "target"), ALIASES.items())
def test_alias_is_the_same_module_object(alias: str, target: str) -> None:
    assert importlib.import_module(alias) is importlib.import_module(target)
    assert sys.modules[alias] is sys.modules[target]


@pytest.mark.parametrize(("alias", "target"), ALIASES.items())
def test_alias_is_the_attribute_of_the_asgiref_package(alias: str, target: str) -> None:
    importlib.import_module(alias)
    assert getattr(asgiref, alias.rpartition(".")[2]) is importlib.import_module(target)


@pytest.mark.parametrize(("alias", "target"), ALIASES.items())
def test_from_import_gives_the_same_objects(alias: str, target: str) -> None:
    module = importlib.import_module(target)
    namespace: dict[str, object] = {}
    exec(f"from {alias} import *", namespace)
    exported = {name: value for name, value in namespace.items() if name != "__builtins__"}
    assert exported.keys() == set(module.__all__)
    assert all(value is getattr(module, name) for name, value in exported.items())


@pytest.mark.parametrize(("alias", "target"), ALIASES.items())
def test_all_parity(alias: str, target: str) -> None:
    alias_module = importlib.import_module(alias)
    assert alias_module.__all__ == importlib.import_module(target).__all__
    assert isinstance(alias_module.__all__, tuple)
    assert alias_module.__all__, f"{target}.__all__ is empty"


def test_private_names_resolve_through_the_alias() -> None:
    import asgi_sync.compatibility
    import asgiref.compatibility

    private = [name for name in vars(asgi_sync.compatibility) if name.startswith("_")]
    assert private
    for name in private:
        assert getattr(asgiref.compatibility, name) is getattr(asgi_sync.compatibility, name)


def test_patch_through_asgiref_name_is_seen_by_the_implementation() -> None:
    """A mock.patch of asgiref.compatibility.X changes what asgi_sync's own callers call."""
    import asgi_sync.compatibility

    class Double:
        def __init__(self, scope: object) -> None:
            self.scope = scope

    with mock.patch("asgiref.compatibility.is_double_callable", return_value=False) as patched:
        # guarantee_single_callable consults is_double_callable by its module global.
        assert asgi_sync.compatibility.guarantee_single_callable(Double) is Double
        assert asgi_sync.compatibility.is_double_callable is patched
    assert patched.called
    assert asgi_sync.compatibility.guarantee_single_callable(Double) is not Double


@pytest.mark.parametrize("name", ["SyncToAsync", "AsyncToSync", "sync_to_async", "async_to_sync"])
def test_patch_of_sync_names_reaches_asgi_sync(name: str) -> None:
    import asgi_sync

    original = getattr(asgi_sync, name)
    with mock.patch(f"asgiref.sync.{name}") as patched:
        assert getattr(asgi_sync, name) is patched
    assert getattr(asgi_sync, name) is original


def test_thread_sensitive_machinery_is_one_per_process() -> None:
    import asgi_sync
    import asgiref.sync

    assert asgiref.sync.SyncToAsync is asgi_sync.SyncToAsync
    assert asgiref.sync.ThreadSensitiveContext is asgi_sync.ThreadSensitiveContext
    assert asgiref.sync.iscoroutinefunction is asgi_sync.iscoroutinefunction


def test_local_is_asgi_local() -> None:
    import asgi_local
    import asgiref.local

    assert asgiref.local.Local is asgi_local.Local


def test_version_is_the_mirrored_asgiref_api_level() -> None:
    from asgiref.__about__ import __version__

    assert asgiref.__version__ == "3.13.0" == __version__
    assert tuple(int(part) for part in asgiref.__version__.split(".")) < (4,)


def test_version_of_the_distribution_follows_the_api_level() -> None:
    from importlib.metadata import version

    assert version("asgiref-meta") == asgiref.__version__
