"""Lock the plugin API: our plugins' methods keep the signatures of the
installed Radicale's base classes, so an upgrade that changes them fails
here, in CI, not as a 500 in production (Radicale 3.9 changed
``BaseRights.authorization`` to ``(user, user_groups, path)``)."""

from __future__ import annotations

import inspect

import pytest
import radicale
from radicale import hook, rights, sharing, storage
from radicale.auth import htpasswd
from radicale.storage import multifilesystem

from radicale_ext.plugins import auth as our_auth
from radicale_ext.plugins import card_books as our_cards
from radicale_ext.plugins import hook as our_hook
from radicale_ext.plugins import pg_storage as our_pg_storage
from radicale_ext.plugins import recorded_storage as our_recorded
from radicale_ext.plugins import rights as our_rights
from radicale_ext.plugins import sharing as our_sharing
from radicale_ext.plugins import storage as our_storage

PAIRS = [
    (our_sharing.Sharing, sharing.BaseSharing),
    (our_rights.Rights, rights.BaseRights),
    (our_auth.Auth, htpasswd.Auth),
    (our_hook.Hook, hook.BaseHook),
    (our_storage.Storage, multifilesystem.Storage),
    (our_storage.Collection, multifilesystem.Collection),
    (our_recorded.ViewedCollection, storage.BaseCollection),
    (our_recorded.RecordedStorage, storage.BaseStorage),
    (our_pg_storage.PgCollectionBase, storage.BaseCollection),
    (our_pg_storage.PgStorageBase, storage.BaseStorage),
    (our_cards.SharedContactsBook, storage.BaseCollection),
    (our_cards.DirectoryBook, storage.BaseCollection),
]


def _overridden(ours: type, base: type) -> list[str]:
    return [name for name, value in vars(ours).items()
            if callable(value) and not name.startswith("__") and hasattr(base, name)]


def _shape(fn) -> list[tuple[str, inspect._ParameterKind]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]


def test_radicale_is_the_pinned_version() -> None:
    assert radicale.VERSION.startswith("3.9."), radicale.VERSION


@pytest.mark.parametrize(("ours", "base"), PAIRS, ids=lambda c: c.__qualname__ if isinstance(c, type) else "")
def test_overridden_methods_keep_radicales_signatures(ours: type, base: type) -> None:
    names = _overridden(ours, base)
    assert names, f"{ours.__qualname__} overrides nothing of {base.__qualname__}"
    for name in names:
        assert _shape(getattr(ours, name)) == _shape(getattr(base, name)), (
            f"{ours.__module__}.{ours.__qualname__}.{name} no longer matches Radicale's {base.__qualname__}.{name}")


def test_plugins_are_the_classes_radicale_loads() -> None:
    """Radicale looks the class up by name in the module given as ``type``."""
    assert our_sharing.Sharing and our_rights.Rights and our_auth.Auth and our_hook.Hook and our_storage.Storage
    assert issubclass(our_storage.Storage, multifilesystem.Storage)


def test_site_for_reads_a_configuration_again_after_radicales_update(tmp_path) -> None:
    """``site_for`` keeps the settings it read per configuration and reads them again when Radicale's
    ``update`` has added a layer to it (plugins/_site.py counts ``Configuration._configs``): a folder
    changed by an update is the new site's."""
    from radicale import config

    from radicale_ext.plugins._site import site_for

    configuration = config.load()
    configuration.update({"storage": {"filesystem_folder": str(tmp_path / "Familie Müller")}}, "test",
                         privileged=True)
    first = site_for(configuration)
    assert site_for(configuration) is first
    assert first.settings.collections_folder == str(tmp_path / "Familie Müller")
    configuration.update({"storage": {"filesystem_folder": str(tmp_path / "家庭")}}, "test", privileged=True)
    assert site_for(configuration).settings.collections_folder == str(tmp_path / "家庭")
