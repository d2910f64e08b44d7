"""Where Radicale's multifilesystem storage keeps a collection on disk.

Used by the CLI to check that a collection exists and what it is, without
starting Radicale.
"""

from __future__ import annotations

import json
import os


def collection_folder(collections_folder: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return os.path.join(collections_folder, "collection-root", *parts)


def collection_tag(collections_folder: str, path: str) -> str | None:
    """``"VCALENDAR"``, ``"VADDRESSBOOK"``, or ``None`` when there is no such collection."""
    props = os.path.join(collection_folder(collections_folder, path), ".Radicale.props")
    try:
        with open(props, encoding="utf-8") as f:
            tag = json.load(f).get("tag")
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return tag if tag in ("VCALENDAR", "VADDRESSBOOK") else None


def display_name(collections_folder: str, path: str) -> str | None:
    props = os.path.join(collection_folder(collections_folder, path), ".Radicale.props")
    try:
        with open(props, encoding="utf-8") as f:
            value = json.load(f).get("D:displayname")
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return value if isinstance(value, str) else None
