"""Where Radicale's multifilesystem storage keeps a collection on disk, and the names of items.

Reading what is stored, on files or PostgreSQL, is :mod:`.collection_store`'s.
"""

from __future__ import annotations

import os

from .errors import InvalidName
from .names import item_name


def collection_folder(collections_folder: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return os.path.join(collections_folder, "collection-root", *parts)


def check_item_name(name: str) -> str:
    """A resource name inside a collection, e.g. ``dinner.ics`` or ``Fußball 🎉.ics`` (:func:`.names.item_name`)."""
    return item_name(name)


def _is_item_name(name: str) -> bool:
    try:
        item_name(name)
    except InvalidName:
        return False
    return True
