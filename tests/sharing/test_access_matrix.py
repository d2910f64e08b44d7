"""Who may do what with a shared calendar and address book: the access matrix.

Alice owns /alice/family/ (a calendar) and /alice/contacts/ (an address book),
both shared the same way: collaborator with dave (direct) and the circle
"family" (bob), subscriber with carol (direct) and the circle "readers" (erin).
frank is in the circle "others", which has no share; grace has no share at all.

Every cell of :data:`EXPECTED` (request x viewer, for each of the two
collections) is one test, run over real HTTP against one real server.  A cell
of a write also checks the store: a write answered 2xx must have happened, a
refused one must have changed nothing.  Each write cell makes its own fresh
items (and, for DELETE of the collection, its own fresh shared collection), so
the cells pass in any order and under pytest-xdist.

Sharees are asked through their mount path (/bob/family~alice/) and through
the owner's path (/alice/family/), which the rights plugin also grants them.
Outsiders are asked through the owner's path and through a would-be mount path
in their own home (/grace/family~alice/, which nobody ever created):
there Radicale answers as for any missing collection of one's own home (404,
or 409 for a write into it), whether or not Alice's collection exists; creating
it is refused (403: names with "~" in a home are reserved for shares).
"""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pytest
import requests

from radicale_ext.base.collection_store import CollectionStore
from radicale_ext.site import Settings, Site

from ..samples import address_book_mkcol, card, event
from ..server import USERS, Server

OWNER = "alice"
SEED = "seed"  # href stem and UID of the item every read cell looks for

# -- the viewers (columns) ------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Someone asking, and the path through which they address the collection."""

    id: str
    user: str | None        # None: anonymous
    home_user: str | None   # None: the owner's path /alice/<c>/; else /<home_user>/<c>~alice/

    def url(self, collection: str) -> str:
        if self.home_user is None:
            return f"/{OWNER}/{collection}/"
        return f"/{self.home_user}/{collection}~{OWNER}/"

    @property
    def home(self) -> str:
        return f"/{self.user or OWNER}/"

    @property
    def writer(self) -> str:
        """Who fills this viewer's own collection (anonymous has none: the owner's)."""
        return self.user or OWNER


VIEWERS = (
    Viewer("owner", "alice", None),
    Viewer("collab", "dave", "dave"),
    Viewer("collab-circle", "bob", "bob"),
    Viewer("sub", "carol", "carol"),
    Viewer("sub-circle", "erin", "erin"),
    Viewer("collab@owner-path", "dave", None),
    Viewer("collab-circle@owner-path", "bob", None),
    Viewer("sub@owner-path", "carol", None),
    Viewer("sub-circle@owner-path", "erin", None),
    Viewer("other-circle@owner-path", "frank", None),
    Viewer("other-circle@own-home", "frank", "frank"),
    Viewer("no-share@owner-path", "grace", None),
    Viewer("no-share@own-home", "grace", "grace"),
    Viewer("anon@owner-path", None, None),
    Viewer("anon@mount", None, "bob"),
)
COLUMN = {v.id: i for i, v in enumerate(VIEWERS)}
OUTSIDERS = tuple(v for v in VIEWERS if v.id.startswith(("other-circle", "no-share", "anon")))

# -- the matrix -------------------------------------------------------------------
#
# One table for both collections: the calendar and the address book answer
# alike in every cell.  "listed-in-home" is whether the collection, as this viewer
# addresses it, appears (IN) or not (OUT) in a Depth: 1 PROPFIND of the viewer's home.  The
# privilege rows name what DAV:current-user-privilege-set says:
#   OWN = DAV:all, write-content and write-properties
#   RWV = write-content and write-properties, not DAV:all: a collaborator through their mount, who
#         writes items and their own view of the collection's properties (name, colour), never the
#         owner's (docs/sharing.md, "your own name and colour")
#   RWA = write-content with DAV:all and DAV:write but no write-properties: Radicale claims "all"
#         for every writable collection outside a mount, whatever the rights letters "l", "d", "o"
#         refuse (PROPPATCH, DELETE and whole-collection PUT are refused all the same, see below);
#         only a change in Radicale's PROPFIND can fix it
#   ROV = read and write-properties (their own view), and none of write-content, write, all: what a
#         subscriber's mount showed before issue 13 (item 5); Thunderbird reads write-properties as
#         "writable", so no cell expects it any more
#   RO  = read, and none of write-content, write, all, write-properties: also a subscriber through their
#         mount, who may still rename their own view (the proppatch row) without it being advertised
#   NO  = no answer (the request itself is refused, or the collection is not listed)
#
# (Before invitations, sharees could not PROPPATCH through their mount at all: 403 there, and
# no write-properties.  CalendarServer's sharing protocol wants per-sharee names and colours,
# read-only sharees included, so those cells changed: proppatch through a mount is 207 and
# changes only the sharee's own view, which the proppatch row checks.  Issue 13 then took
# write-properties out of a subscriber's privileges (ROV -> RO), and reserved names with "~" in a
# home for shares: a whole-collection PUT onto a would-be mount in one's own home (@h) is 403.)

OWN, RWV, RWA, ROV, RO, NO = ("owner", "collaborator, own view", "collaborator, but claims DAV:all",
                              "subscriber, own view", "subscriber", None)
IN, OUT = True, False

# Columns, in the order of VIEWERS.  c: collaborator, s: subscriber, -ci: through a circle;
# oc: member of another circle, ns: no share, an: anonymous; @o: through the owner's path
# /alice/family/, @h: through a would-be mount in the asker's own home, @m: through bob's mount.
#                                  ------ mount ------ --- owner's path -- ---- outsiders ----  anonymous
#                             own  c    c-ci s    s-ci c    c-ci s    s-ci oc@o oc@h ns@o ns@h an@o an@m
EXPECTED: dict[str, tuple] = {
    # reads ------------------------------------------------------------------------------------------------
    "propfind-home-0":       (207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 401, 401),
    "propfind-home-1":       (207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 207, 401, 401),
    "listed-in-home":        (IN,  IN,  IN,  IN,  IN,  OUT, OUT, OUT, OUT, OUT, OUT, OUT, OUT, NO,  NO),
    "privileges-in-home":    (OWN, RWV, RWV, RO,  RO,  NO,  NO,  NO,  NO,  NO,  NO,  NO,  NO,  NO,  NO),
    "propfind-collection-0": (207, 207, 207, 207, 207, 207, 207, 207, 207, 403, 404, 403, 404, 401, 401),
    "privileges":            (OWN, RWV, RWV, RO,  RO,  RWA, RWA, RO,  RO,  NO,  NO,  NO,  NO,  NO,  NO),
    "propfind-collection-1": (207, 207, 207, 207, 207, 207, 207, 207, 207, 403, 404, 403, 404, 401, 401),
    "report-sync":           (207, 207, 207, 207, 207, 207, 207, 207, 207, 403, 404, 403, 404, 401, 401),
    "report-query":          (207, 207, 207, 207, 207, 207, 207, 207, 207, 403, 404, 403, 404, 401, 401),
    "report-multiget":       (207, 207, 207, 207, 207, 207, 207, 207, 207, 403, 404, 403, 404, 401, 401),
    "get-item":              (200, 200, 200, 200, 200, 200, 200, 200, 200, 403, 404, 403, 404, 401, 401),
    "get-collection":        (200, 200, 200, 200, 200, 200, 200, 200, 200, 403, 404, 403, 404, 401, 401),
    # writes -----------------------------------------------------------------------------------------------
    # (MKCOL and MKCALENDAR inside a calendar or address book: 403 for everyone, the owner too, as
    # RFC 4791 5.3.1 wants.  put-collection is a PUT of a whole calendar or address book onto the
    # collection; radicale_ext/plugins/app.py refuses it through a share, and a would-be mount in one's
    # own home is a name reserved for shares, radicale_ext/plugins/handlers/mounts.py.)
    "put-new":               (201, 201, 201, 403, 403, 201, 201, 403, 403, 403, 409, 403, 409, 401, 401),
    "put-existing":          (204, 204, 204, 403, 403, 204, 204, 403, 403, 403, 409, 403, 409, 401, 401),
    "delete-item":           (200, 200, 200, 403, 403, 200, 200, 403, 403, 403, 404, 403, 404, 401, 401),
    "delete-collection":     (200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 404, 403, 404, 401, 401),
    "put-collection":        (201, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401),
    "proppatch":             (207, 207, 207, 207, 207, 403, 403, 403, 403, 403, 404, 403, 404, 401, 401),
    "mkcol-inside":          (403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401),
    "mkcalendar-inside":     (403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401),
    "move-in":               (201, 201, 201, 403, 403, 201, 201, 403, 403, 403, 409, 403, 409, 401, 401),
    "move-out":              (201, 201, 201, 403, 403, 201, 201, 403, 403, 403, 404, 403, 404, 401, 401),
}
assert all(len(row) == len(VIEWERS) for row in EXPECTED.values())

# -- the two collections --------------------------------------------------------------

DAV, CALDAV, CARDDAV = "DAV:", "urn:ietf:params:xml:ns:caldav", "urn:ietf:params:xml:ns:carddav"



NEW_ADDRESS_BOOK = address_book_mkcol()


@dataclass(frozen=True)
class Kind:
    id: str
    collection: str       # the shared one, in Alice's home
    own: str              # each user's own collection of this kind
    ext: str
    content_type: str
    sample: Callable[[str, str], str]
    query: str
    multiget_tag: str
    data_tag: str

    def item(self, uid: str, text: str) -> str:
        return self.sample(uid, text)

    def create(self, server: Server, user: str, path: str) -> requests.Response:
        if self.id == "calendar":
            return server.request("MKCALENDAR", path, user)
        return server.request("MKCOL", path, user, NEW_ADDRESS_BOOK)

    def multiget(self, href: str) -> str:
        return (f'<?xml version="1.0" encoding="utf-8"?>'
                f'<{self.multiget_tag} xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CR="{CARDDAV}">'
                f"<D:prop><D:getetag/><{self.data_tag}/></D:prop><D:href>{href}</D:href></{self.multiget_tag}>")


CALENDAR = Kind(
    id="calendar", collection="family", own="own-cal", ext=".ics", content_type="text/calendar",
    sample=event,
    query=f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="{DAV}" xmlns:C="{CALDAV}">'
          "<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
          '<C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>',
    multiget_tag="C:calendar-multiget", data_tag="C:calendar-data")
ADDRESS_BOOK = Kind(
    id="addressbook", collection="contacts", own="own-book", ext=".vcf", content_type="text/vcard",
    sample=card,
    query=f'<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="{DAV}" xmlns:CR="{CARDDAV}">'
          '<D:prop><D:getetag/></D:prop><CR:filter><CR:prop-filter name="FN"/></CR:filter></CR:addressbook-query>',
    multiget_tag="CR:addressbook-multiget", data_tag="CR:address-data")
KINDS = {k.id: k for k in (CALENDAR, ADDRESS_BOOK)}

PROPFIND = (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="{DAV}"><D:prop>'
            "<D:resourcetype/><D:displayname/><D:getetag/><D:current-user-privilege-set/>"
            "</D:prop></D:propfind>")
SYNC = (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="{DAV}">'
        "<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")


def proppatch_body(name: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="{DAV}"><D:set><D:prop>'
            f"<D:displayname>{name}</D:displayname></D:prop></D:set></D:propertyupdate>")


# -- reading answers ----------------------------------------------------------------


def responses(body: str) -> dict[str, ET.Element]:
    """The D:response elements of a multistatus, by their (unquoted) href path."""
    root = ET.fromstring(body)
    return {unquote(urlparse(r.findtext(f"{{{DAV}}}href", "")).path): r for r in root.iter(f"{{{DAV}}}response")}


def privilege_class(response: ET.Element | None) -> str | None:
    if response is None:
        return NO
    privileges = {p.tag.split("}")[1] for p in response.iterfind(f".//{{{DAV}}}privilege/*")}
    if "write-content" in privileges:
        if "write-properties" in privileges:
            return OWN if "all" in privileges else RWV
        if privileges & {"write", "all"}:
            return RWA
    elif "read" in privileges and not privileges & {"write", "all"}:
        return ROV if "write-properties" in privileges else RO
    return "unexpected: " + " ".join(sorted(privileges))


def has_etag(response: ET.Element | None) -> bool:
    return response is not None and bool(response.findtext(f".//{{{DAV}}}getetag"))


def fresh(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the world: one server, set up once per module (per xdist worker) ------------


def share_as_in_the_matrix(server: Server, collection: str) -> None:
    server.ok("share", "add", f"{OWNER}/{collection}", "--circle", "family", "--role", "collaborator")
    server.ok("share", "add", f"{OWNER}/{collection}", "--user", "dave", "--role", "collaborator")
    server.ok("share", "add", f"{OWNER}/{collection}", "--user", "carol", "--role", "subscriber")
    server.ok("share", "add", f"{OWNER}/{collection}", "--circle", "readers", "--role", "subscriber")


@dataclass
class World:
    server: Server

    def setup(self) -> World:
        srv = self.server
        for user, kind in itertools.product(USERS, KINDS.values()):
            assert kind.create(srv, user, f"/{user}/{kind.own}/").status_code == 201
        srv.ok("circle", "create", "family", "--manager", OWNER)
        srv.ok("circle", "add", "family", "bob")
        srv.ok("circle", "create", "readers", "--manager", OWNER)
        srv.ok("circle", "add", "readers", "erin")
        srv.ok("circle", "create", "others", "--manager", "frank")
        for kind in KINDS.values():
            assert kind.create(srv, OWNER, f"/{OWNER}/{kind.collection}/").status_code == 201
            self.owner_put(kind, kind.collection, SEED, "the seed")
            share_as_in_the_matrix(srv, kind.collection)
        return self

    def request(self, viewer: Viewer, method: str, path: str, body: str | None = None,
                **headers: str) -> requests.Response:
        return self.server.request(method, path, viewer.user, body, headers={k.replace("_", "-"): v
                                                                             for k, v in headers.items()})

    def disk(self, path: str) -> Stored:
        """What is stored at ``path`` (files or PostgreSQL), read through the core's collection store."""
        return Stored(self.store, path)

    @property
    def store(self) -> CollectionStore:
        site = Site.for_settings(Settings.from_ini(str(self.server.config)))
        return site.collections

    def owner_put(self, kind: Kind, collection: str, uid: str, text: str) -> str:
        """Alice stores an item in her collection; its ETag."""
        r = self.server.request("PUT", f"/{OWNER}/{collection}/{uid}{kind.ext}", OWNER, kind.item(uid, text),
                                headers={"Content-Type": kind.content_type})
        assert r.status_code == 201, r.text
        return r.headers["ETag"]

    def fresh_shared_collection(self, kind: Kind) -> str:
        name = fresh("shared")
        assert kind.create(self.server, OWNER, f"/{OWNER}/{name}/").status_code == 201
        share_as_in_the_matrix(self.server, name)
        return name


@dataclass(frozen=True)
class Stored:
    """A path of the store as the matrix asks of it: an item (``.../uid.ics``) or a collection."""

    store: CollectionStore
    path: str

    def _split(self) -> tuple[str, str]:
        collection, _, href = self.path.rstrip("/").rpartition("/")
        return collection + "/", href

    def _item(self) -> bool:
        return self.path.endswith((".ics", ".vcf"))

    def exists(self) -> bool:
        if self._item():
            return self.read_text() is not None
        return self.store.exists(self.path.rstrip("/") + "/")

    def is_dir(self) -> bool:
        return not self._item() and self.exists()

    def read_text(self) -> str | None:
        return self.store.item_text(*self._split())

    def texts(self) -> list[str]:
        """The items of a collection, as stored."""
        folder = self.path.rstrip("/") + "/"
        return [text for href in self.store.item_names(folder) if (text := self.store.item_text(folder, href))]


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    return World(server).setup()


# -- the requests (rows) ---------------------------------------------------------------


@dataclass
class Outcome:
    value: object                     # the status (or, for the home and privilege rows, what was seen)
    detail: str = ""                  # the answer's body, for the failure message
    took_effect: bool | str | None = None   # writes: did the store change? (a str says how it is inconsistent)
    saw_seed: bool | None = None      # reads: did the answer carry the seed item?


@dataclass(frozen=True)
class Target:
    kind: Kind
    collection: str     # the owner's collection name
    exists: bool = True

    @property
    def owner_url(self) -> str:
        return f"/{OWNER}/{self.collection}/"


Request = Callable[[World, Target, Viewer], Outcome]


def propfind_home(depth: str) -> Request:
    def run(world: World, target: Target, viewer: Viewer) -> Outcome:
        r = world.request(viewer, "PROPFIND", viewer.home, PROPFIND, Depth=depth)
        return Outcome(r.status_code, r.text)
    return run


def listed_in_home(world: World, target: Target, viewer: Viewer) -> Outcome:
    r = world.request(viewer, "PROPFIND", viewer.home, PROPFIND, Depth="1")
    if r.status_code != 207:
        return Outcome(NO, r.text)
    return Outcome(viewer.url(target.collection) in responses(r.text), r.text)


def privileges_in_home(world: World, target: Target, viewer: Viewer) -> Outcome:
    r = world.request(viewer, "PROPFIND", viewer.home, PROPFIND, Depth="1")
    if r.status_code != 207:
        return Outcome(NO, r.text)
    return Outcome(privilege_class(responses(r.text).get(viewer.url(target.collection))), r.text)


def privileges(world: World, target: Target, viewer: Viewer) -> Outcome:
    url = viewer.url(target.collection)
    r = world.request(viewer, "PROPFIND", url, PROPFIND, Depth="0")
    if r.status_code != 207:
        return Outcome(NO, r.text)
    return Outcome(privilege_class(responses(r.text).get(url)), r.text)


def seed_url(target: Target, viewer: Viewer) -> str:
    return viewer.url(target.collection) + SEED + target.kind.ext


def propfind_collection(depth: str) -> Request:
    def run(world: World, target: Target, viewer: Viewer) -> Outcome:
        r = world.request(viewer, "PROPFIND", viewer.url(target.collection), PROPFIND, Depth=depth)
        seen = r.status_code == 207 and (depth == "0" or has_etag(responses(r.text).get(seed_url(target, viewer))))
        return Outcome(r.status_code, r.text, saw_seed=seen)
    return run


def report(body: Callable[[Target, Viewer], str]) -> Request:
    def run(world: World, target: Target, viewer: Viewer) -> Outcome:
        r = world.request(viewer, "REPORT", viewer.url(target.collection), body(target, viewer), Depth="1")
        seen = r.status_code == 207 and has_etag(responses(r.text).get(seed_url(target, viewer)))
        return Outcome(r.status_code, r.text, saw_seed=seen)
    return run


def get(url: Callable[[Target, Viewer], str]) -> Request:
    def run(world: World, target: Target, viewer: Viewer) -> Outcome:
        r = world.request(viewer, "GET", url(target, viewer))
        return Outcome(r.status_code, r.text, saw_seed=f"UID:{SEED}" in r.text)
    return run


def put_new(world: World, target: Target, viewer: Viewer) -> Outcome:
    kind, uid = target.kind, fresh()
    url = viewer.url(target.collection) + uid + kind.ext
    r = world.request(viewer, "PUT", url, kind.item(uid, "new"), Content_Type=kind.content_type)
    stored = world.disk(target.owner_url + uid + kind.ext).exists() or world.disk(url).exists()
    return Outcome(r.status_code, r.text, took_effect=stored)


def put_existing(world: World, target: Target, viewer: Viewer) -> Outcome:
    kind, uid = target.kind, fresh()
    etag = world.owner_put(kind, target.collection, uid, "before") if target.exists else '"none"'
    changed = fresh("changed")
    r = world.request(viewer, "PUT", viewer.url(target.collection) + uid + kind.ext, kind.item(uid, changed),
                      Content_Type=kind.content_type, If_Match=etag)
    stored = world.disk(target.owner_url + uid + kind.ext)
    return Outcome(r.status_code, r.text, took_effect=stored.exists() and changed in (stored.read_text() or ""))


def delete_item(world: World, target: Target, viewer: Viewer) -> Outcome:
    kind, uid = target.kind, fresh()
    if target.exists:
        world.owner_put(kind, target.collection, uid, "to delete")
    r = world.request(viewer, "DELETE", viewer.url(target.collection) + uid + kind.ext)
    gone = not world.disk(target.owner_url + uid + kind.ext).exists()
    return Outcome(r.status_code, r.text, took_effect=gone if target.exists else None)


def delete_collection(world: World, target: Target, viewer: Viewer) -> Outcome:
    name = world.fresh_shared_collection(target.kind) if target.exists else target.collection
    r = world.request(viewer, "DELETE", viewer.url(name))
    gone = not world.disk(f"/{OWNER}/{name}/").exists()
    return Outcome(r.status_code, r.text, took_effect=gone if target.exists else None)


def put_collection(world: World, target: Target, viewer: Viewer) -> Outcome:
    """A PUT of a whole calendar or address book onto the collection: it replaces every item, and the name."""
    kind, uid = target.kind, fresh("whole")
    name = world.fresh_shared_collection(kind) if target.exists else target.collection
    body = kind.item(uid, "replaced everything")
    if kind is CALENDAR:
        body = body.replace("VERSION:2.0\n", "VERSION:2.0\nX-WR-CALNAME:replaced\n", 1)
    url = viewer.url(name)
    r = world.request(viewer, "PUT", url, body, Content_Type=kind.content_type)
    owners = world.disk(f"/{OWNER}/{name}/")
    replaced = owners.is_dir() and any(uid in text for text in owners.texts())
    made_elsewhere = url != f"/{OWNER}/{name}/" and world.disk(url).exists()
    return Outcome(r.status_code, r.text, took_effect=replaced or made_elsewhere)


def proppatch(world: World, target: Target, viewer: Viewer) -> Outcome:
    """Rename the collection.  Through a mount, a sharee renames only their own view: the
    owner's name must stay, and the sharee must see the new one."""
    name = fresh("renamed")
    url = viewer.url(target.collection)
    r = world.request(viewer, "PROPPATCH", url, proppatch_body(name))
    shown = world.store.display_name(target.owner_url)
    if not target.exists:
        return Outcome(r.status_code, r.text)
    if viewer.home_user is None:
        return Outcome(r.status_code, r.text, took_effect=shown == name)
    if shown == name:
        return Outcome(r.status_code, r.text, took_effect="inconsistent: the owner's name changed")
    seen = world.request(viewer, "PROPFIND", url, PROPFIND, Depth="0")
    view = responses(seen.text).get(url) if seen.status_code == 207 else None
    own_name = view.findtext(f".//{{{DAV}}}displayname") if view is not None else None
    return Outcome(r.status_code, r.text, took_effect=own_name == name)


def make_inside(method: str) -> Request:
    def run(world: World, target: Target, viewer: Viewer) -> Outcome:
        sub = fresh("sub")
        url = viewer.url(target.collection) + sub + "/"
        r = world.request(viewer, method, url)
        made = world.disk(target.owner_url + sub).exists() or world.disk(url).exists()
        return Outcome(r.status_code, r.text, took_effect=made)
    return run


def moved(source: Stored, destination: Stored) -> bool | str:
    if not source.exists() and destination.exists():
        return True
    if source.exists() and not destination.exists():
        return False
    return f"inconsistent: source exists {source.exists()}, destination exists {destination.exists()}"


def move_in(world: World, target: Target, viewer: Viewer) -> Outcome:
    kind, uid = target.kind, fresh()
    source = f"/{viewer.writer}/{kind.own}/{uid}{kind.ext}"
    r = world.server.request("PUT", source, viewer.writer, kind.item(uid, "mine"),
                             headers={"Content-Type": kind.content_type})
    assert r.status_code == 201, r.text
    destination = viewer.url(target.collection) + uid + kind.ext
    r = world.request(viewer, "MOVE", source, Destination=world.server.url + destination)
    return Outcome(r.status_code, r.text,
                   took_effect=moved(world.disk(source), world.disk(target.owner_url + uid + kind.ext)))


def move_out(world: World, target: Target, viewer: Viewer) -> Outcome:
    kind, uid = target.kind, fresh()
    if target.exists:
        world.owner_put(kind, target.collection, uid, "theirs")
    destination = f"/{viewer.writer}/{kind.own}/{uid}{kind.ext}"
    r = world.request(viewer, "MOVE", viewer.url(target.collection) + uid + kind.ext,
                      Destination=world.server.url + destination)
    took = moved(world.disk(target.owner_url + uid + kind.ext), world.disk(destination)) if target.exists else None
    return Outcome(r.status_code, r.text, took_effect=took)


REQUESTS: dict[str, Request] = {
    "propfind-home-0": propfind_home("0"),
    "propfind-home-1": propfind_home("1"),
    "listed-in-home": listed_in_home,
    "privileges-in-home": privileges_in_home,
    "propfind-collection-0": propfind_collection("0"),
    "privileges": privileges,
    "propfind-collection-1": propfind_collection("1"),
    "report-sync": report(lambda t, v: SYNC),
    "report-query": report(lambda t, v: t.kind.query),
    "report-multiget": report(lambda t, v: t.kind.multiget(seed_url(t, v))),
    "get-item": get(seed_url),
    "get-collection": get(lambda t, v: v.url(t.collection)),
    "put-new": put_new,
    "put-existing": put_existing,
    "delete-item": delete_item,
    "delete-collection": delete_collection,
    "put-collection": put_collection,
    "proppatch": proppatch,
    "mkcol-inside": make_inside("MKCOL"),
    "mkcalendar-inside": make_inside("MKCALENDAR"),
    "move-in": move_in,
    "move-out": move_out,
}
assert REQUESTS.keys() == EXPECTED.keys()
HOME_ROWS = ("propfind-home-0", "propfind-home-1", "listed-in-home", "privileges-in-home")

def check(outcome: Outcome, expected: object, what: str) -> None:
    assert outcome.value == expected, f"{what}: expected {expected!r}, got {outcome.value!r}\n{outcome.detail[:800]}"
    if isinstance(outcome.value, int) and outcome.took_effect is not None:
        succeeded = 200 <= outcome.value < 300
        assert outcome.took_effect == succeeded, (
            f"{what}: answered {outcome.value} but the store {'did not change' if succeeded else 'changed'}"
            f" ({outcome.took_effect})")
    if isinstance(outcome.value, int) and 200 <= outcome.value < 300 and outcome.saw_seed is not None:
        assert outcome.saw_seed, f"{what}: answered {outcome.value} without the seed item\n{outcome.detail[:800]}"


# -- the matrix, cell by cell -------------------------------------------------------


@pytest.mark.parametrize("request_name", list(EXPECTED))
@pytest.mark.parametrize("viewer", VIEWERS, ids=[v.id for v in VIEWERS])
@pytest.mark.parametrize("kind", list(KINDS))
def test_cell(world: World, kind: str, viewer: Viewer, request_name: str) -> None:
    target = Target(KINDS[kind], KINDS[kind].collection)
    outcome = REQUESTS[request_name](world, target, viewer)
    check(outcome, EXPECTED[request_name][COLUMN[viewer.id]], f"{request_name} by {viewer.id} on {kind}")


@pytest.mark.parametrize("request_name", [r for r in EXPECTED if r not in HOME_ROWS])
@pytest.mark.parametrize("viewer", OUTSIDERS, ids=[v.id for v in OUTSIDERS])
@pytest.mark.parametrize("kind", list(KINDS))
def test_outsiders_cannot_tell_whether_it_exists(world: World, kind: str, viewer: Viewer,
                                                 request_name: str) -> None:
    """An outsider gets, for a collection that does not exist, the very answer of the matrix's cell."""
    target = Target(KINDS[kind], fresh("missing"), exists=False)
    outcome = REQUESTS[request_name](world, target, viewer)
    check(outcome, EXPECTED[request_name][COLUMN[viewer.id]], f"{request_name} by {viewer.id} on a missing {kind}")


# -- changes of sharing take effect on the very next request ------------------------


def test_owner_deletes_a_shared_collection_and_its_shares_disappear(world: World) -> None:
    srv = world.server
    assert CALENDAR.create(srv, OWNER, "/alice/party/").status_code == 201
    share_as_in_the_matrix(srv, "party")
    assert srv.request("PROPFIND", "/bob/party~alice/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 207
    assert srv.request("PROPFIND", "/carol/party~alice/", "carol", PROPFIND, headers={"Depth": "0"}).status_code == 207

    assert srv.request("DELETE", "/alice/party/", OWNER).status_code == 200

    assert not world.disk("/alice/party/").exists()
    assert "alice/party" not in srv.ok("shared-with", "bob")
    for user in ("bob", "carol", "dave", "erin"):
        assert srv.request("PROPFIND", f"/{user}/party~alice/", user, PROPFIND,
                           headers={"Depth": "0"}).status_code == 404
        listing = srv.request("PROPFIND", f"/{user}/", user, PROPFIND, headers={"Depth": "1"})
        assert f"/{user}/party~alice/" not in responses(listing.text)
    # a new collection of the same name is not shared with anyone
    assert CALENDAR.create(srv, OWNER, "/alice/party/").status_code == 201
    assert srv.request("PROPFIND", "/alice/party/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 403
    assert srv.request("PROPFIND", "/bob/party~alice/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 404


def test_removing_a_share_takes_effect_on_the_next_request(world: World) -> None:
    srv = world.server
    assert CALENDAR.create(srv, OWNER, "/alice/trip/").status_code == 201
    srv.ok("share", "add", "alice/trip", "--user", "dave", "--role", "collaborator")
    assert srv.request("GET", "/dave/trip~alice/", "dave").status_code == 200
    assert srv.request("PROPFIND", "/alice/trip/", "dave", PROPFIND, headers={"Depth": "0"}).status_code == 207

    srv.ok("share", "remove", "alice/trip", "--user", "dave")

    assert srv.request("GET", "/dave/trip~alice/", "dave").status_code == 404
    assert srv.request("PROPFIND", "/alice/trip/", "dave", PROPFIND, headers={"Depth": "0"}).status_code == 403
    r = srv.request("PUT", "/alice/trip/late.ics", "dave", event("late", "late"),
                    headers={"Content-Type": "text/calendar"})
    assert r.status_code == 403


def test_leaving_the_circle_takes_effect_on_the_next_request(world: World) -> None:
    srv = world.server
    assert CALENDAR.create(srv, OWNER, "/alice/club/").status_code == 201
    srv.ok("circle", "create", "club", "--manager", OWNER)
    srv.ok("circle", "add", "club", "bob")
    srv.ok("share", "add", "alice/club", "--circle", "club", "--role", "collaborator")
    assert srv.request("PROPFIND", "/bob/club~alice/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 207
    listing = srv.request("PROPFIND", "/bob/", "bob", PROPFIND, headers={"Depth": "1"})
    assert "/bob/club~alice/" in responses(listing.text)

    srv.ok("circle", "remove", "club", "bob")

    assert srv.request("PROPFIND", "/bob/club~alice/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 404
    assert srv.request("PROPFIND", "/alice/club/", "bob", PROPFIND, headers={"Depth": "0"}).status_code == 403
    listing = srv.request("PROPFIND", "/bob/", "bob", PROPFIND, headers={"Depth": "1"})
    assert "/bob/club~alice/" not in responses(listing.text)
    r = srv.request("PUT", "/alice/club/gone.ics", "bob", event("gone", "gone"),
                    headers={"Content-Type": "text/calendar"})
    assert r.status_code == 403


FORBID_CAROL = """# added by test_access_matrix: carol may not touch alice's diary, shared or not
[forbid-carol-diary]
user: carol
collection: alice/diary.*
permissions:

"""


def test_a_rights_file_rule_beats_a_share(world: World) -> None:
    srv = world.server
    assert CALENDAR.create(srv, OWNER, "/alice/diary/").status_code == 201
    srv.ok("share", "add", "alice/diary", "--user", "carol", "--role", "collaborator")
    srv.ok("share", "add", "alice/diary", "--user", "dave", "--role", "collaborator")
    assert srv.request("PROPFIND", "/carol/diary~alice/", "carol", PROPFIND, headers={"Depth": "0"}).status_code == 207

    original = srv.rights_file.read_text()
    srv.rights_file.write_text(FORBID_CAROL + original)
    try:
        def carol(method: str, path: str, body: str | None = None, **headers: str) -> int:
            return srv.request(method, path, "carol", body, headers=headers).status_code

        carols = event("carols", "carol's")
        # forbidden, through either path, although she has a share ...
        assert carol("PROPFIND", "/carol/diary~alice/", PROPFIND, Depth="0") == 403
        assert carol("PROPFIND", "/alice/diary/", PROPFIND, Depth="0") == 403
        assert carol("GET", "/carol/diary~alice/") == 403
        assert carol("PUT", "/carol/diary~alice/carols.ics", carols, **{"Content-Type": "text/calendar"}) == 403
        assert carol("PUT", "/alice/diary/carols.ics", carols, **{"Content-Type": "text/calendar"}) == 403
        listing = srv.request("PROPFIND", "/carol/", "carol", PROPFIND, headers={"Depth": "1"})
        assert listing.status_code == 207
        assert "/carol/diary~alice/" not in responses(listing.text)
        # ... while the file's usual patterns and the other shares keep working
        assert "/carol/family~alice/" in responses(listing.text)
        assert carol("PROPFIND", "/carol/family~alice/", PROPFIND, Depth="0") == 207
        assert carol("MKCALENDAR", f"/carol/{fresh('mine')}/") == 201
        assert srv.request("PROPFIND", "/alice/diary/", OWNER, PROPFIND, headers={"Depth": "0"}).status_code == 207
        r = srv.request("PUT", "/dave/diary~alice/daves.ics", "dave", event("daves", "dave's"),
                        headers={"Content-Type": "text/calendar"})
        assert r.status_code == 201
    finally:
        srv.rights_file.write_text(original)
    assert srv.request("PROPFIND", "/carol/diary~alice/", "carol", PROPFIND, headers={"Depth": "0"}).status_code == 207
