"""Where Radicale's multifilesystem storage keeps a collection on disk.

Used by the CLI to check that a collection exists and what it is, without
starting Radicale, and by the sharing plugin for the owner's display name.
"""

from __future__ import annotations

import json
import os

from .errors import InvalidName, NotFound
from .names import item_name, shown


def collection_folder(collections_folder: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return os.path.join(collections_folder, "collection-root", *parts)


def _props(collections_folder: str, path: str) -> dict:
    """The collection's properties (Radicale's ``.Radicale.props``), or ``{}``."""
    props = os.path.join(collection_folder(collections_folder, path), ".Radicale.props")
    try:
        with open(props, encoding="utf-8") as f:
            value = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def collection_props(collections_folder: str, path: str) -> dict:
    """All of a collection's properties (``tag``, ``D:displayname``, ``ICAL:calendar-color``...), or ``{}``."""
    return _props(collections_folder, path)


def collection_tag(collections_folder: str, path: str) -> str | None:
    """``"VCALENDAR"``, ``"VADDRESSBOOK"``, or ``None`` when there is no such collection."""
    tag = _props(collections_folder, path).get("tag")
    return tag if tag in ("VCALENDAR", "VADDRESSBOOK") else None


def display_name(collections_folder: str, path: str) -> str | None:
    value = _props(collections_folder, path).get("D:displayname")
    return value if isinstance(value, str) else None


def check_item_name(name: str) -> str:
    """A resource name inside a collection, e.g. ``dinner.ics`` or ``Fußball 🎉.ics`` (:func:`.names.item_name`)."""
    return item_name(name)


def _is_item_name(name: str) -> bool:
    try:
        item_name(name)
    except InvalidName:
        return False
    return True


def find_item(collections_folder: str, collection: str, wanted: str, extension: str) -> str:
    """The resource name of the event or card ``wanted`` names: its file name
    (``dinner.ics``, or ``dinner``) or its UID.  Raises :class:`NotFound`."""
    folder = collection_folder(collections_folder, collection)
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
    kind = "event" if extension == ".ics" else "card"
    raise NotFound(f"no {kind} named or with UID {shown(wanted)} in {collection}")
