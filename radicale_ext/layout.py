"""Where Radicale's multifilesystem storage keeps a collection on disk.

Used by the CLI to check that a collection exists and what it is, without
starting Radicale, and by the sharing plugin for the owner's display name.
"""

from __future__ import annotations

import json
import os


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


def collection_tag(collections_folder: str, path: str) -> str | None:
    """``"VCALENDAR"``, ``"VADDRESSBOOK"``, or ``None`` when there is no such collection."""
    tag = _props(collections_folder, path).get("tag")
    return tag if tag in ("VCALENDAR", "VADDRESSBOOK") else None


def display_name(collections_folder: str, path: str) -> str | None:
    value = _props(collections_folder, path).get("D:displayname")
    return value if isinstance(value, str) else None
