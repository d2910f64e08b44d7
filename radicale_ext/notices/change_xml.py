"""The ``CS:resource-change`` notification document (caldav-notifications section 5.3).

One stored change notice, as its reader's notification resource:
``CS:created``, ``CS:updated`` and ``CS:deleted`` per item (with
``CS:changed-by``, and for updates ``CS:calendar-changes`` naming the
changed properties of the master component, for deletions
``CS:deleted-details``), or ``CS:collection-changes`` / a ``CS:deleted``
of the collection for changes of the collection itself (the DTD allows
one or the other in one notification).  Hrefs are the reader's own paths
(their mount of a shared collection).  The sentence the other channels
use is added as ``<E:text xmlns:E="urn:radicale-ext">``; clients ignore
elements they do not know (section 4).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from ..base.xml_names import cs, dav
from ..sharing import addresses, cs_xml
from ..sharing.notifications import Notice
from .changes import ItemChange, unescape
from .outbox import ChangeKind
from .wording import person

EXT = "urn:radicale-ext"
ET.register_namespace("E", EXT)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _stamp(at: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))


def resource_change_document(notice: Notice, base_prefix: str) -> bytes:
    """The body of a change notice's notification resource."""
    root, body = cs_xml.notification(notice)
    fill_resource_change(body, notice, base_prefix)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def fill_resource_change(body: ET.Element, notice: Notice, base_prefix: str) -> None:
    """The content of the ``CS:resource-change`` element of ``notice``."""
    data: Mapping[str, Any] = notice.data
    view = str(data.get("view") or data["collection"])
    actor = str(data["actor"])
    changes = [ItemChange.from_json(c) for c in data.get("changes", [])]
    items = [c for c in changes if not c.collection_level]
    if items:
        for change in items:
            _item_change(body, change, str(data["collection"]), view, actor, base_prefix)
    else:
        _collection_change(body, changes, view, actor, base_prefix)
    _sub(body, f"{{{EXT}}}text", str(data.get("text", "")))
    for line in data.get("lines", []):
        _sub(body, f"{{{EXT}}}line", str(line))


def _changed_by(parent: ET.Element, actor: str, at: float, base_prefix: str) -> None:
    by = _sub(parent, cs("changed-by"))
    _sub(by, cs("first-name"), person(actor))
    _sub(by, cs("last-name"), "")
    _sub(by, cs("dtstamp"), _stamp(at))
    _sub(by, dav("href"), addresses.address_of(actor, base_prefix))


def _item_change(body: ET.Element, change: ItemChange, collection: str, view: str, actor: str,
                 base_prefix: str) -> None:
    href = addresses.href(view + (change.item or ""), base_prefix)
    if change.kind is ChangeKind.ITEM_MOVED:
        _deleted(body, change, href, actor, base_prefix)
        element = _sub(body, cs("created"))
        target = view if change.to_collection in (None, collection) else change.to_collection
        _sub(element, dav("href"), addresses.href(target + (change.to_item or ""), base_prefix))
        _changed_by(element, actor, change.at, base_prefix)
        return
    if change.kind is ChangeKind.ITEM_DELETED:
        _deleted(body, change, href, actor, base_prefix)
        return
    tag = "created" if change.kind is ChangeKind.ITEM_CREATED else "updated"
    element = _sub(body, cs(tag))
    _sub(element, dav("href"), href)
    _changed_by(element, actor, change.at, base_prefix)
    if tag == "updated":
        _sub(element, cs("content"))
        if change.changed_fields:
            recurrence = _sub(_sub(element, cs("calendar-changes")), cs("recurrence"))
            _sub(recurrence, cs("master"))
            changed = _sub(recurrence, cs("changes"))
            for name in change.changed_fields:
                _sub(changed, cs("changed-property")).set("name", name)


def _deleted(body: ET.Element, change: ItemChange, href: str, actor: str, base_prefix: str) -> None:
    element = _sub(body, cs("deleted"))
    _sub(element, dav("href"), href)
    _changed_by(element, actor, change.at, base_prefix)
    details = _sub(element, cs("deleted-details"))
    _sub(details, cs("deleted-component"), change.component or "")
    _sub(details, cs("deleted-summary"), unescape(change.old.get("SUMMARY") or change.old.get("FN") or ""))


def _collection_change(body: ET.Element, changes: list[ItemChange], view: str, actor: str,
                       base_prefix: str) -> None:
    href = addresses.href(view, base_prefix)
    deleted = [c for c in changes if c.kind is ChangeKind.COLLECTION_DELETED]
    if deleted:
        element = _sub(body, cs("deleted"))
        _sub(element, dav("href"), href)
        _changed_by(element, actor, deleted[-1].at, base_prefix)
        _sub(_sub(element, cs("deleted-details")), cs("deleted-displayname"), view.strip("/").split("/")[-1])
        return
    element = _sub(body, cs("collection-changes"))
    _sub(element, dav("href"), href)
    if any(c.kind is ChangeKind.PROPERTIES_CHANGED for c in changes):
        _sub(element, dav("prop"))
    replaced = sum(c.items or 0 for c in changes if c.kind is ChangeKind.COLLECTION_REPLACED)
    if replaced:
        _sub(element, cs("child-created"), str(replaced))
