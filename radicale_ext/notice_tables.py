"""The tables of change notices, for :data:`radicale_ext.site.FEATURE_SCHEMAS`, and forgetting a person."""

from __future__ import annotations

from . import changes, delivery, outbox, preferences, push_subscriptions, reminders
from .database import Writer

SCHEMAS: tuple[str, ...] = (outbox.NOTICE_SCHEMA, changes.SCHEMA, delivery.SCHEMA, preferences.SCHEMA,
                            push_subscriptions.SCHEMA, reminders.SCHEMA)


def forget_user(w: Writer, user: str) -> None:
    """Inside ``w``: a removed account's choices, addresses, devices and undelivered deliveries."""
    preferences.Preferences.forget_user(w, user)
    push_subscriptions.PushSubscriptions.forget_user(w, user)
    delivery.DeliveryQueue.forget_user(w, user)
    reminders.ReminderChoices.forget_user(w, user)
