"""Hook plugin: adds what Radicale tells its hook to the outbox record.

The storage plugin has already written the record (before the change hit
the disk); Radicale then calls this hook, inside its global write lock, with
the old and new content of the item.  We keep a short summary of both
(UID, SUMMARY/FN, DTSTART...) so that a notice can later say what changed:
it goes into the record when the storage marks it ready, as the write lock is
let go (nothing is written to the database here).

The options of change notices live in this plugin's section, ``[hook]``:
they are declared to Radicale as our plugin schema
(:data:`PLUGIN_CONFIG_SCHEMA`), so Radicale refuses an unknown option there
at start-up, and read by :func:`notice_settings`.
"""

from __future__ import annotations

from radicale import config, hook
from radicale.log import logger

from radicale_ext.base.summary import summarize
from radicale_ext.notices.settings import HOOK_TYPE, OPTION_NAMES, SMTP_OPTIONS, NoticeSettings, radicale_schema

from . import _request
from ._site import site_for

PLUGIN_CONFIG_SCHEMA = radicale_schema()


def notice_settings(configuration: config.Configuration) -> NoticeSettings:
    """The notice options of this configuration; notices are off unless ``[hook] type`` is this plugin.

    Raises :class:`RuntimeError` (Radicale's) for an unknown option and
    :class:`~radicale_ext.base.errors.ExtError` for a bad value.
    """
    if configuration.get("hook", "type") != HOOK_TYPE:
        return NoticeSettings(enabled=False)
    ours = configuration.copy(PLUGIN_CONFIG_SCHEMA)
    options = {name: ours.get("hook", name) for name in (*OPTION_NAMES, *SMTP_OPTIONS)}
    return NoticeSettings.from_options(options, database_path=site_for(configuration).settings.database_path)


class Hook(hook.BaseHook):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration.copy(PLUGIN_CONFIG_SCHEMA))  # refuses unknown [hook] options

    @property
    def enabled(self) -> bool:
        return True

    def notify(self, notification_item: hook.HookNotificationItem) -> None:
        if not notification_item.point or notification_item.type == "cpatch":
            return  # the storage plugin's record of a PROPPATCH needs nothing more
        collection = "/" + notification_item.point + "/"
        pending = _request.current().item_records.get(collection)
        if not pending:
            return  # a whole-collection PUT or DELETE: one record for the collection
        record_id = pending.pop(0)
        try:
            old, new = summarize(notification_item.old_content), summarize(notification_item.new_content)
            detail = {"old": old, "new": new} if old else {"new": new}
            if notification_item.type == "delete":
                detail = {"old": old}
            finished = _request.current().finished.get(record_id)
            if finished is not None:   # marked ready with it when the write lock is let go
                finished.detail.update(detail)
            else:
                site_for(self.configuration).outbox.annotate(record_id, detail)
        except Exception:  # never fail a request that is already written
            logger.exception("outbox: could not add the hook's summary to record %d", record_id)
