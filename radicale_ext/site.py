"""One server's worth of core objects, built from its settings.

Radicale creates each plugin separately (and the sharing plugin creates a
second rights and storage plugin of its own); :func:`Site.for_settings`
hands all of them the same objects, one per database file and process.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from . import card_consent, cards, directory, ini, layout, notice_tables, notifications, shared_contacts, shares
from .card_consent import ConsentBook
from .cards import CardBook
from .circles import CircleBook
from .database import Database
from .directory import Directory, NameIndex
from .errors import ExtError
from .groups_file import GroupsFile
from .inbox import Inbox
from .invitations import InvitationBook
from .links import SCHEMA as LINKS_SCHEMA
from .links import LinkBook
from .model import CircleOrigin
from .notifications import NoticeBox
from .outbox import Outbox
from .scopes import ScopeBook
from .shared_contacts import SharedContacts
from .shares import ShareBook
from .users import UserFile

# The tables of features beyond the foundation: each feature module defines
# its own ``SCHEMA`` and is listed here.
FEATURE_SCHEMAS: tuple[str, ...] = (
    shares.SCHEMA, notifications.SCHEMA,
    LINKS_SCHEMA,
    cards.SCHEMA, card_consent.SCHEMA, directory.SCHEMA, shared_contacts.SCHEMA,
    *notice_tables.SCHEMAS,
)


@dataclass(frozen=True)
class Settings:
    collections_folder: str
    database_path: str
    groups_file: str | None
    htpasswd_file: str | None
    rights_file: str | None

    @staticmethod
    def default_database_path(collections_folder: str) -> str:
        return os.path.join(os.path.dirname(os.path.abspath(collections_folder)), "sharing.sqlite")

    @classmethod
    def from_ini(cls, path: str) -> Settings:
        """Read the options we need from Radicale's own INI file.

        Relative paths are taken from the working directory, as Radicale does.
        """
        parser = ini.read(path)

        def option(section: str, key: str, default: str = "") -> str:
            return parser.get(section, key, fallback=default).strip()

        def file(section: str, key: str) -> str | None:
            value = option(section, key)
            return os.path.abspath(os.path.expanduser(value)) if value else None

        collections = file("storage", "filesystem_folder") or "/var/lib/radicale/collections"
        return cls(
            collections_folder=collections,
            database_path=file("sharing", "database_path") or cls.default_database_path(collections),
            groups_file=file("group", "htgroup_filename"),
            htpasswd_file=file("auth", "htpasswd_filename"),
            rights_file=file("rights", "file"),
        )


class Site:
    _registry: dict[str, Site] = {}
    _registry_lock = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database.open(settings.database_path, marker_folder=settings.collections_folder,
                                schemas=FEATURE_SCHEMAS)
        self.users = UserFile(settings.htpasswd_file) if settings.htpasswd_file else None
        self.groups_file = GroupsFile(settings.groups_file)
        self.circles = CircleBook(self.db, self.groups_file, user_exists=self.user_exists)
        self.shares = ShareBook(self.db, user_exists=self.user_exists, circle_exists=self.circles.exists,
                                admin_circle=self.is_admin_circle, collection_tag=self.collection_tag)
        self.outbox = Outbox(self.db)
        self.notices = NoticeBox(self.db)
        self.scopes = ScopeBook(self.db, self.shares, self.circles, user_exists=self.user_exists,
                                circle_exists=self.circles.exists, collection_tag=self.collection_tag,
                                display_name=self.display_name)
        self.invitations = InvitationBook(self.db, self.shares, self.circles, self.notices,
                                          in_scope=self.scopes.in_scope, user_exists=self.user_exists)
        self.inbox = Inbox(self.notices, self.invitations, self.collection_tag)
        self.links = LinkBook(self.db, shares=self.shares, circles_of=self.circles.circles_of,
                              collections_folder=settings.collections_folder)
        self._card_names = NameIndex(self.db)
        self.cards = CardBook(self.db, self.circles, self.notices, ConsentBook(self.db), self._card_names, self.outbox,
                              collections_folder=settings.collections_folder, user_exists=self.user_exists)
        self.shared_contacts = SharedContacts(self.db, self.cards, ConsentBook(self.db), self.circles.circles_of)
        self.directory = Directory(self._card_names, self.shared_contacts)

    @classmethod
    def for_settings(cls, settings: Settings) -> Site:
        key = os.path.abspath(settings.database_path)
        with cls._registry_lock:
            site = cls._registry.get(key)
            if site is None or site.settings != settings:
                site = cls(settings)
                cls._registry[key] = site
            return site

    def user_exists(self, user: str) -> bool:
        """Users are the accounts of the htpasswd file; with another auth
        backend every syntactically valid name is accepted."""
        return self.users.exists(user) if self.users else True

    def remove_user(self, user: str) -> frozenset[str]:
        """Remove an account, its direct shares and its database circles.

        A new account of the same name later starts with nothing shared.
        Collections stay on disk.  Returns the groups-file circles that still
        list the user (only the admin's editor changes those).
        """
        if self.users is None:
            raise ExtError("[auth] htpasswd_filename is not set in the config; users are managed elsewhere")
        self.users.require(user)
        with self.db.write() as w:
            self.shares.forget_grantee(w, user)
            self.invitations.forget_user(w, user)
            self.scopes.forget_user(w, user)
            self.notices.forget_user(w, user)
            notice_tables.forget_user(w, user)
            self.circles.forget_user(w, user)
            self.forget_cards_of(w, user)
            self.users.remove(user)
        return self.groups_file.circles_of(user)

    @staticmethod
    def forget_cards_of(w, user: str) -> None:
        """Inside ``w``: the user's me card, audiences, choices and views (the cards feature)."""
        for book in (CardBook, ConsentBook, NameIndex, SharedContacts):
            book.forget_user(w, user)

    def collection_tag(self, path: str) -> str | None:
        return layout.collection_tag(self.settings.collections_folder, path)

    def display_name(self, path: str) -> str | None:
        return layout.display_name(self.settings.collections_folder, path)

    def is_admin_circle(self, name: str) -> bool:
        """A circle whose members the admin vouches for: one of the groups file."""
        return self.circles.exists(name) and self.circles.get(name).origin is CircleOrigin.GROUPS_FILE
