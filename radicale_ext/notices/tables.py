"""The tables of change notices, for :data:`radicale_ext.site.FEATURE_SCHEMAS`, and forgetting a person."""

from __future__ import annotations

from ..base.database import Writer
from . import changes, delivery, outbox, preferences, set_aside
from .push import subscriptions, vapid_keys

SCHEMAS: tuple[str, ...] = (outbox.NOTICE_SCHEMA, changes.SCHEMA, delivery.SCHEMA, preferences.SCHEMA,
                            subscriptions.SCHEMA, set_aside.SCHEMA, vapid_keys.SCHEMA)


def forget_user(w: Writer, user: str) -> None:
    """Inside ``w``: a removed account's choices, addresses, devices and undelivered deliveries."""
    preferences.Preferences.forget_user(w, user)
    subscriptions.PushSubscriptions.forget_user(w, user)
    delivery.DeliveryQueue.forget_user(w, user)
