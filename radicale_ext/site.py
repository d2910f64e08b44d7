"""One server's worth of core objects, built from its settings.

Radicale creates each plugin separately (and the sharing plugin creates a
second rights and storage plugin of its own); :func:`Site.for_settings`
hands all of them the same objects, one per database file and process.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .base import ini, postgres
from .base.database import Database
from .base.errors import DatabaseUnavailable, ExtError
from .base.model import CircleOrigin
from .base.postgres import DEFAULT_POOL_SIZE, pool_size
from .base.users import Accounts, UserFile, admins_from
from .cards import tables as card_tables
from .cards.consent import ConsentBook
from .cards.directory import Directory
from .cards.me_cards import CardBook
from .cards.name_index import NameIndex
from .cards.shared_contacts import SharedContacts
from .cards.through_shares import CardThroughShares, MeCardNotices
from .index.pg_collections import collection_store, collection_writes
from .links import tables as link_tables
from .links.share_links import LinkBook
from .notices import tables as notice_tables
from .notices.changes import ChangeNotices
from .notices.outbox import Outbox
from .reminders import tables as reminder_tables
from .sharing import tables as sharing_tables
from .sharing.circles import CircleBook
from .sharing.groups_file import GroupsFile
from .sharing.inbox import Inbox
from .sharing.inbox_history import InboxHistory
from .sharing.invitations import InvitationBook
from .sharing.notifications import NoticeBox
from .sharing.personal_data import PersonalData
from .sharing.scopes import ScopeBook
from .sharing.shares import ShareBook

# The tables of features beyond the foundation: each feature declares its own
# (``<feature>/tables.py``) and the site collects them, in this order.
FEATURE_SCHEMAS: tuple[str, ...] = (
    *sharing_tables.SCHEMAS,
    *link_tables.SCHEMAS,
    *card_tables.SCHEMAS,
    *notice_tables.SCHEMAS,
    *reminder_tables.SCHEMAS,
)


@dataclass(frozen=True)
class Settings:
    collections_folder: str
    database_path: str
    groups_file: str | None
    htpasswd_file: str | None
    rights_file: str | None
    admins: frozenset[str] = frozenset()   # [auth] admins: users who manage accounts on the web page
    postgresql_dsn: str = ""     # [storage] postgresql_dsn: the sharing database in PostgreSQL; "" = SQLite
    postgresql_pool_size: int = DEFAULT_POOL_SIZE

    @property
    def database_key(self) -> str:
        """Which database this is, whichever engine: the DSN, or the SQLite file's path."""
        return self.postgresql_dsn or os.path.abspath(self.database_path)

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
            postgresql_dsn=option("storage", "postgresql_dsn"),
            postgresql_pool_size=pool_size(option("storage", "postgresql_pool_size")),
            collections_folder=collections,
            database_path=file("sharing", "database_path") or cls.default_database_path(collections),
            groups_file=file("group", "htgroup_filename"),
            htpasswd_file=file("auth", "htpasswd_filename"),
            rights_file=file("rights", "file"),
            admins=admins_from(option("auth", "admins")),
        )




def open_database(settings: Settings) -> Database:
    """The sharing database the settings name: PostgreSQL when ``postgresql_dsn`` is set, else the SQLite file
    (docs/scale-out.md).  Raises :class:`DatabaseUnavailable` with a sentence when it cannot be used."""
    if settings.postgresql_dsn:
        if not postgres.available():
            raise DatabaseUnavailable("[storage] postgresql_dsn is set, but psycopg is not installed; install "
                                      "radicale-ext with its postgres extra (pip install 'radicale-ext[postgres]')")
        return postgres.PostgresDatabase.open(settings.postgresql_dsn, pool_size=settings.postgresql_pool_size,
                                              schemas=FEATURE_SCHEMAS)
    return Database.open(settings.database_path, marker_folder=settings.collections_folder, schemas=FEATURE_SCHEMAS)


class Site:
    _registry: dict[str, Site] = {}
    _registry_lock = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.collections = collection_store(settings.collections_folder, settings.postgresql_dsn,
                                            settings.postgresql_pool_size)
        self.db = open_database(settings)
        self.users = UserFile(settings.htpasswd_file) if settings.htpasswd_file else None
        self.groups_file = GroupsFile(settings.groups_file)
        self.circles = CircleBook(self.db, self.groups_file, user_exists=self.user_exists)
        self.shares = ShareBook(self.db, user_exists=self.user_exists, circle_exists=self.circles.exists,
                                admin_circle=self.is_admin_circle, collection_tag=self.collection_tag,
                                occupied=self.collection_exists)
        self.outbox = Outbox(self.db)
        self.personal_data = PersonalData(self.db)   # each sharee's own alarms (docs/sharing.md)
        self.notices = NoticeBox(self.db, change_details=ChangeNotices(self.db).changes_of)
        self.scopes = ScopeBook(self.db, self.shares, self.circles, user_exists=self.user_exists,
                                circle_exists=self.circles.exists, collection_tag=self.collection_tag,
                                display_name=self.display_name)
        self.invitations = InvitationBook(self.db, self.shares, self.circles, self.notices,
                                          in_scope=self.scopes.in_scope, user_exists=self.user_exists)
        self.inbox = Inbox(self.notices, self.invitations, self.collection_tag, InboxHistory(self.db))
        self.links = LinkBook(self.db, shares=self.shares, circles_of=self.circles.circles_of,
                              collections=self.collections)
        self._card_names = NameIndex(self.db)
        self.cards = CardBook(self.db, self.circles, self.notices, ConsentBook(self.db), self._card_names, self.outbox,
                              collections=self.collections,
                              writes=collection_writes(settings.collections_folder, settings.postgresql_dsn,
                                                       settings.postgresql_pool_size),
                              user_exists=self.user_exists)
        self.shared_contacts = SharedContacts(self.db, self.cards, ConsentBook(self.db), self.circles.circles_of)
        self.directory = Directory(self._card_names, self.shared_contacts)
        self.cards_through_shares = CardThroughShares(self.db, self.cards, self.circles.circles_of)
        self.private_items = MeCardNotices(self.cards, self.circles.circles_of)  # for change notices
        self.accounts = Accounts(self.users, settings.admins, remove=self.remove_user, circles=self.circles.list)

    @classmethod
    def for_settings(cls, settings: Settings) -> Site:
        key = settings.database_key
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
            PersonalData.forget_user(w, user)
            self.invitations.forget_user(w, user)
            self.scopes.forget_user(w, user)
            self.notices.forget_user(w, user)
            InboxHistory.forget_user(w, user)
            notice_tables.forget_user(w, user)
            reminder_tables.forget_user(w, user)
            self.circles.forget_user(w, user)
            card_tables.forget_user(w, user)
            self.users.remove(user)
        return self.groups_file.circles_of(user)

    def collection_tag(self, path: str) -> str | None:
        return self.collections.tag(path)

    def collection_exists(self, path: str) -> bool:
        """Whether a collection is stored at ``path`` (one ``stat``, or one indexed query)."""
        return self.collections.exists(path)

    def display_name(self, path: str) -> str | None:
        return self.collections.display_name(path)

    def is_admin_circle(self, name: str) -> bool:
        """A circle whose members the admin vouches for: one of the groups file."""
        return self.circles.exists(name) and self.circles.get(name).origin is CircleOrigin.GROUPS_FILE
