"""WebDAV request bodies and answer parsing shared by the storage tests.

Used by tests/test_storage_equivalence.py, tests/test_index_recovery.py and
tests/test_concurrency.py.  Everything here speaks HTTP only (any object with
``Server.request``'s signature), except :func:`stock_state`, which asks stock
Radicale's multifilesystem, in this process, what it makes of a folder: the
expected ETags and collection ETag (the ctag) of the same content.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote
from xml.sax.saxutils import escape

import requests
from radicale import config
from radicale.storage import multifilesystem

from .server import AnyServer, Server, loopback_session, password

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
NS = {"D": DAV, "C": CALDAV, "CR": CARDDAV, "CS": CS}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
VCF = {"Content-Type": "text/vcard; charset=utf-8"}
HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


class Requester(Protocol):
    """What the helpers need: ``Server.request`` or a :class:`Client`."""

    def request(self, method: str, path: str, user: str | None = None, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> requests.Response: ...


class Client:
    """A client of one server with its own HTTP session, so each thread can have one."""

    def __init__(self, url: str, fresh_connections: bool = False) -> None:
        self.url = url
        self.session = loopback_session()
        if fresh_connections:  # behind one address of several processes: each request to whichever takes it
            self.session.headers["Connection"] = "close"
        self.lock = threading.Lock()  # a session is not meant to be shared between threads

    def request(self, method: str, path: str, user: str | None = None, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        auth = (user, password(user)) if user else None
        data = body.encode() if isinstance(body, str) else body
        with self.lock:
            return self.session.request(method, self.url + path, auth=auth, data=data, headers=headers or {},
                                        allow_redirects=False, timeout=60)

    def close(self) -> None:
        self.session.close()


# -- request bodies ------------------------------------------------------------

PROPPATCH_NAME = (HEAD + '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>{name}</D:displayname>'
                  "</D:prop></D:set></D:propertyupdate>")
PROPFIND_NAME = HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'
PROPFIND_LISTING = (HEAD + '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/>'
                    "</D:prop></D:propfind>")
PROPFIND_CTAG = (HEAD + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
                 "<D:prop><CS:getctag/></D:prop></D:propfind>")


def sync_collection(token: str = "", props: str = "<D:getetag/>") -> str:
    """An RFC 6578 sync-collection REPORT body; ``token`` "" asks for an initial sync."""
    return (HEAD + f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{escape(token)}</D:sync-token>'
            f"<D:sync-level>1</D:sync-level><D:prop>{props}</D:prop></D:sync-collection>")


def time_range(start: str | None, end: str | None) -> str:
    attrs = "".join(f' {name}="{value}"' for name, value in (("start", start), ("end", end)) if value)
    return f"<C:time-range{attrs}/>"


def calendar_query(component: str, start: str | None, end: str | None, *, expand: bool = False) -> str:
    """A calendar-query for ``component`` (VEVENT, VTODO) overlapping [start, end), with its data."""
    data = f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>' if expand else \
        "<C:calendar-data/>"
    return (HEAD + f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/>{data}</D:prop>'
            f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">'
            f"{time_range(start, end)}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def calendar_multiget(hrefs: Iterable[str]) -> str:
    listed = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (HEAD + f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{listed}</C:calendar-multiget>")


def addressbook_multiget(hrefs: Iterable[str]) -> str:
    listed = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (HEAD + f'<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="{CARDDAV}">'
            f"<D:prop><D:getetag/><CR:address-data/></D:prop>{listed}</CR:addressbook-multiget>")


def text_match(text: str, *, match_type: str = "contains", collation: str | None = None,
               negate: bool = False) -> str:
    attrs = f' match-type="{match_type}"'
    if collation:
        attrs += f' collation="{collation}"'
    if negate:
        attrs += ' negate-condition="yes"'
    return f"<CR:text-match{attrs}>{escape(text)}</CR:text-match>"


def prop_filter(name: str, *matches: str, test: str | None = None) -> str:
    """A CardDAV prop-filter; ``matches`` are text-match elements (none: "the property exists")."""
    attr = f' test="{test}"' if test else ""
    return f'<CR:prop-filter name="{name}"{attr}>{"".join(matches)}</CR:prop-filter>'


def addressbook_query(*prop_filters: str, test: str | None = None) -> str:
    attr = f' test="{test}"' if test else ""
    return (HEAD + f'<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="{CARDDAV}">'
            f"<D:prop><D:getetag/><CR:address-data/></D:prop>"
            f"<CR:filter{attr}>{''.join(prop_filters)}</CR:filter></CR:addressbook-query>")


# -- reading answers -------------------------------------------------------------


def status_of(line: str | None) -> int:
    """``HTTP/1.1 404 Not Found`` -> 404 (0 when there is none)."""
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def responses(content: bytes) -> list[tuple[str, ET.Element]]:
    """The (href, response element) of a multistatus, in the order sent."""
    root = ET.fromstring(content)
    assert root.tag == f"{{{DAV}}}multistatus", content[:300]
    return [(r.findtext(f"{{{DAV}}}href") or "", r) for r in root.findall(f"{{{DAV}}}response")]


def found_prop(response: ET.Element, tag: str) -> str | None:
    """The text of property ``tag`` ("{DAV:}getetag") where its propstat says 200, else None."""
    for propstat in response.findall(f"{{{DAV}}}propstat"):
        if status_of(propstat.findtext(f"{{{DAV}}}status")) != 200:
            continue
        prop = propstat.find(f"{{{DAV}}}prop/{tag}")
        if prop is not None:
            return prop.text or ""
    return None


@dataclass
class SyncAnswer:
    """A sync-collection answer: the new token, the members reported with their ETag, the ones reported gone."""

    token: str
    found: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    duplicates: list[str] = field(default_factory=list)

    @property
    def reported(self) -> set[str]:
        return set(self.found) | self.gone


def parse_sync(response: requests.Response) -> SyncAnswer:
    assert response.status_code == 207, (response.status_code, response.text[:500])
    root = ET.fromstring(response.content)
    answer = SyncAnswer(token=(root.findtext(f"{{{DAV}}}sync-token") or "").strip())
    seen: set[str] = set()
    for href, element in responses(response.content):
        if href in seen:
            answer.duplicates.append(href)
        seen.add(href)
        whole = status_of(element.findtext(f"{{{DAV}}}status"))
        etag = found_prop(element, f"{{{DAV}}}getetag")
        if whole == 404:
            answer.gone.add(href)
        elif etag is not None and whole in (0, 200):
            answer.found[href] = etag
        else:
            raise AssertionError(f"sync-collection: {href} reported neither 404 nor with a getetag: "
                                 f"{ET.tostring(element, encoding='unicode')}")
    return answer


# the PostgreSQL storage's sync token: the collection's epoch, its change number, a check (docs/scale-out.md);
# a reader's token through a share may add "-" and a count of their own (radicale_ext/plugins/view_tokens.py)
_PG_TOKEN = re.compile(r"^http://radicale\.org/ns/sync/[0-9a-f]{32}([0-9a-f]{16})[0-9a-f]{16}(?:-\d+)?$")


def change_number(token: str) -> int | None:
    """The change number of a sync token of the PostgreSQL storage, ``None`` for a token of another form."""
    found = _PG_TOKEN.match(token)
    return int(found.group(1), 16) if found else None


def rejects_token(response: requests.Response) -> bool:
    """403 with the DAV:valid-sync-token precondition (RFC 6578 section 3.2): "sync again from scratch"."""
    if response.status_code != 403:
        return False
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError:
        return False
    return root.tag == f"{{{DAV}}}error" and root.find(f"{{{DAV}}}valid-sync-token") is not None


def sync(server: Requester, path: str, user: str, token: str = "", props: str = "<D:getetag/>"
         ) -> requests.Response:
    return server.request("REPORT", path, user, sync_collection(token, props),
                          headers={"Content-Type": "application/xml; charset=utf-8"})


def listing(server: Requester, path: str, user: str) -> dict[str, str]:
    """{href: ETag} of the collection's members, from a depth-1 PROPFIND."""
    r = server.request("PROPFIND", path, user, PROPFIND_LISTING, headers={"Depth": "1"})
    assert r.status_code == 207, (r.status_code, r.text[:500])
    members: dict[str, str] = {}
    for href, element in responses(r.content):
        if href.rstrip("/") == path.rstrip("/"):
            continue
        etag = found_prop(element, f"{{{DAV}}}getetag")
        assert etag, f"PROPFIND {path}: {href} has no getetag: {ET.tostring(element, encoding='unicode')}"
        assert href not in members, f"PROPFIND {path}: {href} listed twice"
        members[href] = etag
    return members


def ctag(server: Requester, path: str, user: str) -> str:
    r = server.request("PROPFIND", path, user, PROPFIND_CTAG, headers={"Depth": "0"})
    assert r.status_code == 207, (r.status_code, r.text[:500])
    found = [found_prop(element, f"{{{CS}}}getctag") for _, element in responses(r.content)]
    assert len(found) == 1 and found[0], r.text[:500]
    return found[0]


def report_etags(response: requests.Response) -> dict[str, str]:
    """{href: ETag} of a calendar-query / addressbook-query / multiget answer's 200 members."""
    assert response.status_code == 207, (response.status_code, response.text[:500])
    got: dict[str, str] = {}
    for href, element in responses(response.content):
        etag = found_prop(element, f"{{{DAV}}}getetag")
        if etag is not None:
            assert href not in got, f"{href} answered twice"
            got[href] = etag
    return got


def check_incremental(answer: SyncAnswer, before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """What is wrong with an incremental sync answer, given the members (href: ETag) at the
    token's state and now (nothing is changing meanwhile)."""
    problems = [f"{h} reported twice" for h in answer.duplicates]
    for href, etag in answer.found.items():
        if href not in now:
            problems.append(f"{href} reported 200 ({etag}) but is no member")
        elif etag != now[href]:
            problems.append(f"{href} reported with ETag {etag}, current is {now[href]}")
    for href in sorted(answer.gone):
        if href in now:
            problems.append(f"{href} reported 404 but is a member")
    changed = {h for h in set(before) | set(now) if before.get(h) != now.get(h)}
    for href in sorted(changed - answer.reported):
        problems.append(f"{href} changed ({before.get(href)} -> {now.get(href)}) but was not reported")
    return problems


def check_initial(answer: SyncAnswer, now: Mapping[str, str]) -> list[str]:
    """An initial sync reports exactly the members with their ETags (and maybe 404s of non-members)."""
    problems = check_incremental(answer, {}, now)
    problems += [f"{h} missing from the initial sync" for h in sorted(set(now) - set(answer.found))]
    return problems


def applied(mirror: Mapping[str, str], answer: SyncAnswer) -> dict[str, str]:
    """A client's copy (href: ETag) after it applied a sync answer."""
    result = {h: e for h, e in mirror.items() if h not in answer.gone}
    result.update(answer.found)
    return result


# -- item texts -------------------------------------------------------------------


def unfolded_lines(text: str) -> list[str]:
    """The content lines of an iCalendar / vCard text, unfolded, sorted: equal for the same content
    whatever order and folding the server chose when it stored it."""
    unfolded = text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")
    return sorted(line for line in unfolded.split("\n") if line)


# -- stock Radicale's view of a folder ----------------------------------------------


def stock_state(collections_folder: Path, path: str) -> tuple[str, dict[str, str]]:
    """(collection ETag, {href: item ETag}) as stock Radicale's multifilesystem computes them for the
    collection ``path`` ("/alice/cal/") of the storage folder, reading it in this process."""
    conf = config.load()
    conf.update({"storage": {"filesystem_folder": str(collections_folder)}}, "test", privileged=True)
    storage = multifilesystem.Storage(conf)
    with storage.acquire_lock("r"):
        collection = next(iter(storage.discover(path)))
        items = {path + item.href: item.etag for item in collection.get_all() if item.href}
        return collection.etag, items


def stock_state_of_rows(dsn: str, path: str) -> tuple[str, dict[str, str]]:
    """:func:`stock_state` for a collection stored in PostgreSQL (radicale_ext/index/pg_items.py): its rows
    read here, its ETag made by Radicale's own ``BaseCollection.etag`` over them, items in name order."""
    import json

    import psycopg
    from radicale import item as radicale_item
    from radicale import storage

    with psycopg.connect(dsn) as db:
        props, collection_id = db.execute("SELECT props, id FROM dav_collections WHERE path = %s",
                                          (path.strip("/"),)).fetchone()
        rows = db.execute("SELECT href, text FROM dav_items WHERE collection_id = %s AND deleted_ns IS NULL "
                          "ORDER BY href COLLATE \"C\"", (collection_id,)).fetchall()

    class Rows(storage.BaseCollection):
        @property
        def path(self) -> str:
            return path.strip("/")

        def get_all(self):
            for href, text in rows:
                yield radicale_item.Item(collection=self, href=href, text=text)

        def get_meta(self, key=None):
            meta = radicale_item.check_and_sanitize_props(json.loads(props))
            return meta if key is None else meta.get(key)

    collection = Rows()
    return collection.etag, {path + item.href: item.etag for item in collection.get_all()}


def syncer(cluster: list[Server], user: str, where: str, seed: int, stop: threading.Event, numbers: list[int],
           problems: list[str]) -> None:
    """Incremental syncs, each from a random process, until ``stop``: the change numbers of the tokens, in
    order; at the end the synced copy is the collection's listing."""
    client = AnyServer(cluster, seed)
    where = quote(where)   # as the answers' hrefs are
    token, copy = "", {}
    while True:
        last = stop.is_set()
        r = sync(client, where, user, token)
        if r.status_code != 207:
            problems.append(f"{user} sync with a token of ours: {r.status_code} {r.text[:200]}")
            return
        answer = parse_sync(r)
        copy, token = applied(copy, answer), answer.token
        number = change_number(token)
        if number is None:
            problems.append(f"{user}: a token of another form: {token}")
            return
        numbers.append(number)
        if last:
            break
    listed = listing(client, where, user)
    if copy != listed:
        problems.append(f"{user}: the synced copy differs from the listing: {sorted(set(copy) ^ set(listed))}")
