"""Hook plugin: adds what Radicale tells its hook to the outbox record.

The storage plugin has already written the record (before the change hit
the disk); Radicale then calls this hook, inside its global write lock, with
the old and new content of the item.  We keep a short summary of both
(UID, SUMMARY/FN, DTSTART...) so that a notice can later say what changed.
One small SQLite update; nothing slow happens here.
"""

from __future__ import annotations

from radicale import hook
from radicale.log import logger

from radicale_ext.summary import summarize

from . import _request
from ._site import site_for


class Hook(hook.BaseHook):
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
            site_for(self.configuration).outbox.annotate(record_id, detail)
        except Exception:  # never fail a request that is already written
            logger.exception("outbox: could not add the hook's summary to record %d", record_id)
