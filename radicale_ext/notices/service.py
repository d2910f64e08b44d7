"""Change notices, put together for one site: the stores, who hears, in which words, by which channels.

:class:`Notices` is what the worker, the CLI and the push handlers use; the
flow is outbox -> :mod:`.compose` (bursts into notices) -> :mod:`.fanout`
(recipients: notification collection, queued deliveries) -> :mod:`.worker`
(channels).  docs/notifications.md tells it for users and admins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..base.collection_store import CollectionStore
from ..base.database import Database
from ..sharing.circles import CircleBook
from ..sharing.invitations import InvitationBook
from ..sharing.notifications import NoticeBox
from ..sharing.shares import ShareBook
from . import compose
from .changes import ChangeNotices, ItemChange
from .channels import Sender
from .channels.email import EmailSender
from .channels.push import PushSender, SyncToken
from .channels.webhook import WebhookSender
from .compose import NoticeComposer
from .delivery import DeliveryQueue, Planned
from .fanout import Audience, Fanout, PrivateItems
from .outbox import ChangeKind, Leases, Outbox
from .preferences import Channel, Preferences
from .push import webdav_push
from .push.subscriptions import PushSubscriptions
from .push.vapid_keys import VapidKeys
from .push.webpush import VapidKey
from .set_aside import COMPOSE, HAND_OUT, SetAside
from .settings import NoticeSettings
from .wording import Wording


class NoticeSite(Protocol):
    """What change notices and reminders need of the server's objects (:class:`radicale_ext.site.Site` has it)."""

    @property
    def collections(self) -> CollectionStore: ...
    @property
    def db(self) -> Database: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def shares(self) -> ShareBook: ...
    @property
    def invitations(self) -> InvitationBook: ...
    @property
    def notices(self) -> NoticeBox: ...
    @property
    def circles(self) -> CircleBook: ...
    @property
    def private_items(self) -> PrivateItems: ...

    def display_name(self, path: str) -> str | None: ...


def set_aside_book(db: Database) -> SetAside:
    """The set-aside work (:mod:`.set_aside`), knowing how to put back what notices set aside."""
    book = SetAside(db)
    book.on_retry(COMPOSE, compose.put_back)
    book.on_retry(HAND_OUT, ChangeNotices.put_back)
    return book


class Notices:
    def __init__(self, site: NoticeSite, settings: NoticeSettings, *,
                 may_read: Callable[[str, str], bool] | None = None, sync_token: SyncToken | None = None) -> None:
        self.site = site
        self.settings = settings
        db = site.db
        self.preferences = Preferences(db)
        self.changes = ChangeNotices(db)
        self.queue = DeliveryQueue(db)
        self.outbound = settings.outbound()
        self.subscriptions = PushSubscriptions(db, outbound=self.outbound, max_days=settings.push_max_days)
        self.leases = Leases(db)
        self.set_aside = set_aside_book(db)
        self._names: dict[str, str] = {}
        self.wording = Wording(self.collection_name)
        self.audience = Audience(site.shares, site.invitations, may_read, site.private_items)
        self.composer = NoticeComposer(db, site.outbox, self.changes, window=settings.window,
                                       read_item=site.collections.item_text,
                                       is_private=site.private_items.is_private)
        self.fanout = Fanout(db, self.changes, self.queue, site.notices, self.audience, self.preferences,
                             self.subscriptions, self.wording, daily_at=settings.daily_at,
                             email=settings.smtp.configured)
        self.vapid_keys = VapidKeys(db, settings.vapid_subject, key_file=settings.vapid_key_file)
        self._sync_token = sync_token
        self._topic_secret: str | None = None

    def collection_name(self, collection: str) -> str:
        """A collection's display name (cached until :meth:`forget_names`)."""
        name = self._names.get(collection)
        if name is None:
            name = self.site.display_name(collection) or collection.strip("/").split("/")[-1]
            self._names[collection] = name
        return name

    def forget_names(self) -> None:
        self._names = {}

    def vapid(self) -> VapidKey:
        """The server's VAPID key that new subscriptions are made for (made on first use)."""
        return self.vapid_keys.current()

    def rotate_vapid_key(self, now: float) -> tuple[VapidKey, int]:
        """A new VAPID key, and the draft's key-rotation message queued to every push resource with a live
        subscription, signed with the key it was made for (bitfireAT/webdav-push, section "Key Rotation").
        Returns the new key and how many devices will be told."""
        db = self.site.db
        with db.write() as w:
            _old, new = self.vapid_keys.rotate(w, now)
            devices = w.execute("SELECT p.endpoint, p.id, p.user FROM push_subscriptions p WHERE p.expires_at > ?"
                                " AND p.id = (SELECT MIN(q.id) FROM push_subscriptions q WHERE q.endpoint = p.endpoint"
                                " AND q.expires_at > ?) ORDER BY p.endpoint", (now, now)).fetchall()
            if devices:
                notice_id = ChangeNotices.add(w, "/", "", [ItemChange(ChangeKind.VAPID_KEY_ROTATED, at=now)], now)
                ChangeNotices.handed_out(w, notice_id)
                DeliveryQueue.enqueue(w, [Planned(notice_id, user, Channel.PUSH.value, now, target=sub_id)
                                          for _endpoint, sub_id, user in devices], now)
        return new, len(devices)

    def topic(self, collection: str) -> str:
        """The collection's WebDAV-Push topic."""
        if self._topic_secret is None:
            row = self.site.db.read_one("SELECT value FROM meta WHERE key = 'database_id'")
            self._topic_secret = row[0] if row else "radicale-ext"
        return webdav_push.topic(collection, self._topic_secret)

    def senders(self) -> dict[str, Sender]:
        """A fresh sender per channel (each keeps its own connections)."""
        s = self.settings
        return {
            Channel.EMAIL.value: EmailSender(s.smtp, self.wording, self.site.collections.item_text,
                                             timeout=s.timeout, public_url=s.public_url),
            Channel.WEBHOOK.value: WebhookSender(self.wording, outbound=self.outbound,
                                                 max_bytes=s.webhook_max_bytes, timeout=s.timeout),
            Channel.PUSH.value: PushSender(self.subscriptions, self.vapid_keys, self.topic, outbound=self.outbound,
                                           timeout=s.timeout, sync_token=self._sync_token),
        }
