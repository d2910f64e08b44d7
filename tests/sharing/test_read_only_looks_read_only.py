"""Read-only must look read-only (issue 13, item 5): what clients read from DAV:current-user-privilege-set.

Thunderbird decides whether a calendar or an address book is read-only from
``DAV:current-user-privilege-set`` alone, and lets people type into anything
it takes for writable; a subscriber's events were then refused by the server
and lost.  The rules, as the clients' sources have them:

- Thunderbird: writable if any of ``write``, ``write-content``,
  ``write-properties``, ``all`` is granted (mozilla/releases-comm-central
  ``calendar/providers/caldav/CalDavCalendar.sys.mjs`` checkDavResourceType,
  Depth 0 on the calendar; ``CalDavProvider.sys.mjs`` handleCalendar, Depth 1
  on the home when a calendar is added; ``mailnews/addrbook/modules/
  CardDAVUtils.sys.mjs`` ``writePrivs`` for address books).  The issue also
  names ``bind`` (adding members), which no read-only collection may grant.
- DAVx5: read-only unless it may write content: ``write-content``, ``write``
  or ``all`` (bitfireAT/davx5-ose ``db/Collection.kt`` ``readOnly()``;
  bitfireAT/dav4jvm ``CurrentUserPrivilegeSet.kt``).

Every role is asked the way those clients ask, over HTTP, for a calendar and
an address book: the owner, collaborators (shared at once, by an accepted
invitation), subscribers (shared at once, by an accepted invitation, by a
subscription) and a collaborator whom the admin's rights file allows only to
read.  What the privileges say must be what the server does: a PUT of a new
item succeeds exactly where the privileges say writable.  A subscriber may
still rename their own view (docs/sharing.md), without that being advertised.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlparse

import pytest

from ..samples import ICS, VCF, address_book_mkcol, card, event
from ..server import Server, make_server

DAV, CALDAV, CS, ICAL = "DAV:", "urn:ietf:params:xml:ns:caldav", "http://calendarserver.org/ns/", \
    "http://apple.com/ns/ical/"

THUNDERBIRD_WRITABLE = frozenset({"write", "write-content", "write-properties", "all"})
ISSUE_WRITABLE = THUNDERBIRD_WRITABLE | {"bind"}
DAVX5_WRITE_CONTENT = frozenset({"write-content", "write", "all"})

# Thunderbird's PROPFIND bodies: checkDavResourceType (Depth 0 on the calendar) and
# handleHomeSet / CardDAVUtils (Depth 1 on the home)
CHECK_RESOURCE_TYPE = (
    f'<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CS="{CS}">'
    "<D:prop><D:resourcetype/><D:owner/><D:current-user-principal/><D:current-user-privilege-set/>"
    "<D:supported-report-set/><C:supported-calendar-component-set/><CS:getctag/></D:prop></D:propfind>")
HOME_SET = (
    f'<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="{DAV}" xmlns:A="{ICAL}">'
    "<D:prop><D:resourcetype/><D:displayname/><D:current-user-privilege-set/><A:calendar-color/>"
    "</D:prop></D:propfind>")
PRIVILEGES = (f'<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="{DAV}">'
              "<D:prop><D:current-user-privilege-set/></D:prop></D:propfind>")

USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")
# the admin lets grace only read alice's collections, whatever a share says
RIGHTS_RULE = """[grace-reads-alice]
user: grace
collection: alice/.+
permissions: r

"""


@dataclass(frozen=True)
class Role:
    id: str
    user: str
    read_only: bool

    def url(self, collection: str) -> str:
        return f"/alice/{collection}/" if self.user == "alice" else f"/{self.user}/{collection}~alice/"


ROLES = (
    Role("owner", "alice", read_only=False),
    Role("collaborator, at once", "bob", read_only=False),
    Role("collaborator, invitation accepted", "dave", read_only=False),
    Role("subscriber, at once", "carol", read_only=True),
    Role("subscriber, invitation accepted", "erin", read_only=True),
    Role("subscriber, subscription", "frank", read_only=True),
    Role("collaborator the rights file lets only read", "grace", read_only=True),
)


@dataclass(frozen=True)
class Kind:
    id: str
    collection: str
    ext: str
    headers: dict

    def item(self, uid: str) -> str:
        return event(uid, "Fußball 🎉") if self.id == "calendar" else card(uid, "Jürgen Müller")


KINDS = (Kind("calendar", "family", ".ics", ICS), Kind("address book", "contacts", ".vcf", VCF))


def share(srv: Server, collection: str) -> None:
    srv.ok("share", "add", f"alice/{collection}", "--user", "bob", "--role", "collaborator")
    srv.ok("share", "add", f"alice/{collection}", "--user", "carol", "--role", "subscriber")
    srv.ok("share", "add", f"alice/{collection}", "--user", "grace", "--role", "collaborator")
    srv.ok("invite", f"alice/{collection}", "--user", "dave", "--role", "collaborator", acting_as="alice")
    srv.ok("invitation", "accept", f"alice/{collection}", acting_as="dave")
    srv.ok("invite", f"alice/{collection}", "--user", "erin", "--role", "subscriber", acting_as="alice")
    srv.ok("invitation", "accept", f"alice/{collection}", acting_as="erin")
    srv.ok("scope", "add", f"alice/{collection}", "--user", "frank", acting_as="alice")
    srv.ok("subscribe", f"alice/{collection}", acting_as="frank")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("read-only"), users=USERS)
    server.rights_file.write_text(RIGHTS_RULE + server.rights_file.read_text())
    server.start()
    for user in USERS:
        assert server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 207
    mkcalendar = (f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="{DAV}" xmlns:C="{CALDAV}">'
                  "<D:set><D:prop><D:displayname>Familie Müller 家庭</D:displayname></D:prop></D:set>"
                  "</C:mkcalendar>")
    assert server.request("MKCALENDAR", "/alice/family/", "alice", mkcalendar).status_code == 201
    assert server.request("MKCOL", "/alice/contacts/", "alice",
                          address_book_mkcol("Kontakte 联系人")).status_code == 201
    for kind in KINDS:
        r = server.request("PUT", f"/alice/{kind.collection}/seed{kind.ext}", "alice", kind.item("seed"),
                           headers=kind.headers)
        assert r.status_code == 201, r.text
        share(server, kind.collection)
    yield server
    server.stop()


def privileges_by_href(body: str) -> dict[str, frozenset[str]]:
    """Each response's DAV:current-user-privilege-set, by its (unquoted) path."""
    found = {}
    for response in ET.fromstring(body).iter(f"{{{DAV}}}response"):
        href = unquote(urlparse(response.findtext(f"{{{DAV}}}href", "")).path)
        found[href] = frozenset(p.tag.split("}")[1] for p in response.iterfind(f".//{{{DAV}}}privilege/*"))
    return found


def thunderbird_reads_read_only(privileges: frozenset[str]) -> bool:
    return not privileges & THUNDERBIRD_WRITABLE


def davx5_reads_read_only(privileges: frozenset[str]) -> bool:
    return not privileges & DAVX5_WRITE_CONTENT


def assert_looks(privileges: frozenset[str], read_only: bool, where: str) -> None:
    assert "read" in privileges, f"{where}: {sorted(privileges)}"
    assert thunderbird_reads_read_only(privileges) is read_only, \
        f"{where}: Thunderbird would take {sorted(privileges)} as {'writable' if read_only else 'read-only'}"
    assert davx5_reads_read_only(privileges) is read_only, \
        f"{where}: DAVx5 would take {sorted(privileges)} as {'writable' if read_only else 'read-only'}"
    if read_only:
        assert not privileges & ISSUE_WRITABLE, f"{where}: {sorted(privileges)}"


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("role", ROLES, ids=[r.id for r in ROLES])
def test_the_collection_looks_as_it_is(srv: Server, role: Role, kind: Kind) -> None:
    url = role.url(kind.collection)
    r = srv.request("PROPFIND", quote(url), role.user, CHECK_RESOURCE_TYPE, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    assert_looks(privileges_by_href(r.text)[url], role.read_only, f"{role.id}: PROPFIND {url} (Depth 0)")


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("role", ROLES, ids=[r.id for r in ROLES])
def test_the_home_listing_shows_it_as_it_is(srv: Server, role: Role, kind: Kind) -> None:
    """What Thunderbird's "New Calendar > On the Network" and "New CardDAV Address Book" read."""
    r = srv.request("PROPFIND", f"/{role.user}/", role.user, HOME_SET, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    listed = privileges_by_href(r.text)
    url = role.url(kind.collection)
    assert url in listed, f"{url} is not in {role.user}'s home: {sorted(listed)}"
    assert_looks(listed[url], role.read_only, f"{role.id}: {url} in PROPFIND /{role.user}/ (Depth 1)")


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("role", ROLES, ids=[r.id for r in ROLES])
def test_its_items_look_as_they_are(srv: Server, role: Role, kind: Kind) -> None:
    url = role.url(kind.collection)
    r = srv.request("PROPFIND", quote(url), role.user, PRIVILEGES, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    items = {href: p for href, p in privileges_by_href(r.text).items() if href != url}
    assert f"{url}seed{kind.ext}" in items, sorted(items)
    for href, privileges in items.items():
        assert_looks(privileges, role.read_only, f"{role.id}: {href}")


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("role", ROLES, ids=[r.id for r in ROLES])
def test_what_it_looks_like_is_what_the_server_does(srv: Server, role: Role, kind: Kind) -> None:
    """Typing into it (a PUT of a new item) works exactly where the privileges say writable."""
    uid = f"typed-{uuid.uuid4().hex[:8]}"
    url = role.url(kind.collection)
    r = srv.request("PROPFIND", quote(url), role.user, CHECK_RESOURCE_TYPE, headers={"Depth": "0"})
    read_only = thunderbird_reads_read_only(privileges_by_href(r.text)[url])

    r = srv.request("PUT", quote(f"{url}{uid}{kind.ext}"), role.user, kind.item(uid), headers=kind.headers)

    stored = srv.request("GET", f"/alice/{kind.collection}/{uid}{kind.ext}", "alice").status_code
    if read_only:
        assert (r.status_code, stored) == (403, 404), r.text
    else:
        assert (r.status_code, stored) == (201, 200), r.text


SUBSCRIBERS = [r for r in ROLES if r.read_only and r.id.startswith("subscriber")]


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
@pytest.mark.parametrize("role", SUBSCRIBERS, ids=[r.id for r in SUBSCRIBERS])
def test_a_subscriber_still_names_and_colours_their_own_view(srv: Server, role: Role, kind: Kind) -> None:
    """Accepted though not advertised: only the subscriber's own view changes."""
    url = role.url(kind.collection)
    name = f"{role.user}s Fußball 🎉 {uuid.uuid4().hex[:4]}"
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="{DAV}" xmlns:A="{ICAL}">'
            f"<D:set><D:prop><D:displayname>{name}</D:displayname><A:calendar-color>#2E7D32FF</A:calendar-color>"
            "</D:prop></D:set></D:propertyupdate>")
    r = srv.request("PROPPATCH", quote(url), role.user, body.encode())
    assert r.status_code == 207 and "200 OK" in r.text and "403" not in r.text, r.text

    seen = srv.request("PROPFIND", quote(url), role.user, HOME_SET, headers={"Depth": "0"})
    assert name in seen.text and "#2E7D32FF" in seen.text, seen.text
    assert_looks(privileges_by_href(seen.text)[url], True, f"{role.id} after renaming their view")
    owners = srv.request("PROPFIND", f"/alice/{kind.collection}/", "alice", HOME_SET, headers={"Depth": "0"})
    assert name not in owners.text
