"""The tables of reminders, for :data:`radicale_ext.site.FEATURE_SCHEMAS`, and forgetting a person."""

from __future__ import annotations

from ..base.database import Writer
from . import scheduler

SCHEMAS: tuple[str, ...] = (scheduler.SCHEMA,)


def forget_user(w: Writer, user: str) -> None:
    """Inside ``w``: a removed account's reminder choices."""
    scheduler.ReminderChoices.forget_user(w, user)
