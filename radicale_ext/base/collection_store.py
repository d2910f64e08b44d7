"""Where the calendars and address books are, as the core reads them without Radicale.

The server stores them through Radicale's storage plugin; the core (the
command line, homes, links, cards, reminders, the e-mail channel) only reads:
which collections a person has, a collection's tag, display name and
properties, its items' names and texts.  :class:`CollectionStore` is that
reading, with two implementations: :class:`FolderStore` here, Radicale's
folder layout (the embedded default), and the PostgreSQL one beside the
storage's tables (:mod:`radicale_ext.index.pg_collections`, docs/scale-out.md).
``Site.collections`` is the one a server or command uses.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from .errors import Conflict, NotFound
from .layout import _is_item_name, collection_folder
from .names import shown

PROPS_NAME = ".Radicale.props"
EXTENSIONS = {"VCALENDAR": ".ics", "VADDRESSBOOK": ".vcf"}
COLOUR_PROPS = {"VCALENDAR": "ICAL:calendar-color", "VADDRESSBOOK": "{http://inf-it.com/ns/ab/}addressbook-color"}
TAGS = ("VCALENDAR", "VADDRESSBOOK")


@dataclass(frozen=True)
class CollectionSummary:
    """A calendar or address book of someone's home, as it is stored."""

    path: str                 # "/alice/family/"
    tag: str                  # "VCALENDAR" or "VADDRESSBOOK"
    display_name: str | None
    colour: str | None
    items: int                # events, tasks and journal entries, or cards
    changed_at: float = 0.0   # seconds since the epoch: an item added, replaced or removed, or its properties

    @property
    def name(self) -> str:
        return self.path.strip("/").split("/")[-1]


def summary(path: str, props: dict, items: int, changed_at: float) -> CollectionSummary | None:
    """The summary of a collection with these properties; None for a folder that is no calendar or address book."""
    tag = props.get("tag")
    if tag not in TAGS:
        return None
    return CollectionSummary(path=path, tag=tag, display_name=_text(props.get("D:displayname")),
                             colour=_text(props.get(COLOUR_PROPS[tag])), items=items, changed_at=changed_at)


class CollectionStore(Protocol):
    """Reading the stored calendars and address books (paths as ``/alice/family/``)."""

    def owners(self) -> list[str]:
        """Everyone with a home, by name."""

    def collections_of(self, owner: str) -> list[CollectionSummary]:
        """The calendars and address books directly in ``owner``'s home, by name."""

    def props(self, path: str) -> dict:
        """All of a collection's properties (``tag``, ``D:displayname``, ...), or ``{}``."""

    def tag(self, path: str) -> str | None:
        """``"VCALENDAR"``, ``"VADDRESSBOOK"``, or ``None`` when there is no such collection."""

    def display_name(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool:
        """Anything at ``path``: a calendar, an address book, a home or a plain collection."""

    def item_names(self, path: str) -> list[str]:
        """The names of a collection's items, by name."""

    def item_data(self, path: str, href: str) -> tuple[bytes, float] | None:
        """An item's bytes as stored and when it was last written (seconds since the epoch); None: no item."""

    def item_text(self, path: str, href: str) -> str | None:
        """An item as stored (``None``: no such item, or a name Radicale never gives an item)."""

    def find_item(self, path: str, wanted: str, extension: str) -> str:
        """The name of the event or card ``wanted`` names: its name (``dinner.ics``, or ``dinner``) or its UID.
        Raises :class:`NotFound`."""

    def stamp(self, path: str, href: str | None = None) -> tuple | None:
        """A value that changes whenever the collection (or the item ``href``) changes, each part with the
        time of its last change in nanoseconds at index 2; None when it is not there."""


class CollectionWrites(Protocol):
    """Writing collections from outside the server (the command line), under the storage's own lock, so that
    no request sees half a change: :class:`~radicale_ext.base.collection_folders.FolderWrites` on files,
    :class:`~radicale_ext.index.pg_collections.PgWrites` on PostgreSQL."""

    def locked(self) -> AbstractContextManager[None]:
        """The storage's write lock: no request reads or writes meanwhile."""

    def create(self, path: str, props: Mapping[str, str]) -> None:
        """Make the collection (and its owner's home); :class:`Conflict` when anything is there already."""

    def set_props(self, path: str, props: Mapping[str, str]) -> None:
        """Replace a collection's properties."""

    def delete(self, path: str) -> None:
        """Remove a collection and everything in it; :class:`NotFound` when there is none."""

    def write_card(self, path: str, href: str, text: str) -> None:
        """Store ``text`` (a vCard, as Radicale stores a PUT) as the card ``href`` of the address book."""


def tag_of(props: Mapping[str, object]) -> str | None:
    """``"VCALENDAR"`` or ``"VADDRESSBOOK"`` from a collection's properties; ``None`` for anything else."""
    tag = props.get("tag")
    return tag if tag in TAGS else None


def display_name_of(props: Mapping[str, object]) -> str | None:
    value = props.get("D:displayname")
    return value if isinstance(value, str) else None


def already_there(path: str) -> Conflict:
    return Conflict(f"{shown(path.strip('/'))} already exists; nothing changed "
                    f"(choose another name, or delete it first)")


def no_collection(path: str) -> NotFound:
    return NotFound(f"no calendar or address book at {shown(path.strip('/'))}")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def not_found(kind_extension: str, wanted: str, collection: str) -> NotFound:
    kind = "event" if kind_extension == ".ics" else "card"
    return NotFound(f"no {kind} named or with UID {shown(wanted)} in {collection}")


class FolderStore:
    """Radicale's multifilesystem layout under ``collections_folder`` (``collection-root/<owner>/<name>/``)."""

    def __init__(self, collections_folder: str) -> None:
        self.collections_folder = collections_folder

    def _folder(self, path: str) -> str:
        return collection_folder(self.collections_folder, path)

    def owners(self) -> list[str]:
        return sorted(_entries(os.path.join(self.collections_folder, "collection-root")))

    def props(self, path: str) -> dict:
        props = os.path.join(self._folder(path), PROPS_NAME)
        try:
            with open(props, encoding="utf-8") as f:
                value = json.load(f)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def tag(self, path: str) -> str | None:
        return tag_of(self.props(path))

    def display_name(self, path: str) -> str | None:
        return display_name_of(self.props(path))

    def exists(self, path: str) -> bool:
        return os.path.isdir(self._folder(path))

    def collections_of(self, owner: str) -> list[CollectionSummary]:
        home = self._folder(f"/{owner}/")
        try:
            entries = sorted(os.scandir(home), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            path = f"/{owner}/{entry.name}/"
            props = self.props(path)
            if props.get("tag") not in TAGS:
                continue
            made = summary(path, props, _count_items(entry.path), _changed_at(entry.path))
            if made is not None:
                found.append(made)
        return found

    def item_names(self, path: str) -> list[str]:
        """Radicale's items: the files of the folder whose names do not start with "."."""
        return sorted(_entries(self._folder(path), files=True))

    def item_data(self, path: str, href: str) -> tuple[bytes, float] | None:
        if not href or "/" in href or href.startswith("."):
            return None
        try:
            with open(os.path.join(self._folder(path), href), "rb") as f:
                return f.read(), os.fstat(f.fileno()).st_mtime
        except OSError:
            return None

    def item_text(self, path: str, href: str) -> str | None:
        if not href or "/" in href or href.startswith("."):
            return None
        try:
            with open(os.path.join(self._folder(path), href), encoding="utf-8", newline="") as f:
                return f.read()
        except (OSError, UnicodeDecodeError):
            return None

    def find_item(self, path: str, wanted: str, extension: str) -> str:
        folder = self._folder(path)
        for name in (wanted, wanted + extension):
            if _is_item_name(name) and os.path.isfile(os.path.join(folder, name)):
                return name
        uid_line = f"UID:{wanted}"
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            entries = []
        for entry in entries:
            if not entry.endswith(extension) or entry.startswith("."):
                continue
            try:
                with open(os.path.join(folder, entry), encoding="utf-8", errors="replace") as f:
                    if any(line.rstrip("\r\n") == uid_line for line in f):
                        return entry
            except OSError:
                continue
        raise not_found(extension, wanted, path)

    def stamp(self, path: str, href: str | None = None) -> tuple | None:
        """Radicale writes every item and its properties by renaming a new file into the folder, so the
        folder's stat and its properties file's change with every write; an item's own stat with it."""
        folder = self._folder(path)
        if href is not None:
            item = _stat(os.path.join(folder, href))
            return None if item is None else (item,)
        here = _stat(folder)
        return None if here is None else (here, _stat(os.path.join(folder, PROPS_NAME)))


def _stat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _entries(folder: str, *, files: bool = False) -> list[str]:
    """The names in a folder that Radicale lists: folders (collections) or files (items), never dot-names."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if not e.name.startswith(".")
                    and (e.is_file() if files else e.is_dir())]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _changed_at(folder: str) -> float:
    """Radicale writes every item and its properties by renaming a new file into the folder, which
    changes the folder's mtime; the properties file's own mtime covers an older copy restored in place."""
    stamps = [os.stat(folder).st_mtime]
    with contextlib.suppress(OSError):
        stamps.append(os.stat(os.path.join(folder, PROPS_NAME)).st_mtime)
    return max(stamps)


def _count_items(folder: str) -> int:
    """Radicale's items: the files of the folder whose names do not start with "."."""
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if not e.name.startswith(".") and e.is_file(follow_symlinks=False))
