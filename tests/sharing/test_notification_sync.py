"""sync-collection (RFC 6578) on a person's notification collection is incremental.

Each step below changes bob's notification collection the way people do:
invitations (to him and to his circle), a changed invitation, answers, a
change notice delivered by the worker, a withdrawal, deletions, a circle he
joins in the admin's groups file.  After each step the incremental answer to
every token handed out so far is compared with the difference of the two
full listings (the one answered with that token, and one made now): what
was added, changed (another ETag) and removed (404), and nothing else.
The requests are the ones clients send: Apple's (OS X 10.11's notification
sync, from CalendarServer's load simulator), DAVx5's (dav4jvm's
``reportChanges``: default namespace, Depth 0) and CalDAVTester's (no
sync-level, an empty DAV:prop, Depth 1).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest

from ..notice_kit import FakeClock, notice_server, put_event, worker_of
from ..server import Server

NS = {"D": "DAV:", "CS": "http://calendarserver.org/ns/", "E": "urn:radicale-ext"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
USERS = ("alice", "bob", "carol")
FUSSBALL = "Fußball 🎉"
FAMILY = "家庭"

# CalendarServer's contrib/performance/loadtest/request-data/OS_X_10_11/notification_sync.request (Depth: 1)
APPLE = """<?xml version="1.0" encoding="UTF-8"?>
<A:sync-collection xmlns:A="DAV:">
  <A:sync-token>{token}</A:sync-token>
  <A:sync-level>1</A:sync-level>
  <A:prop>
    <C:notificationtype xmlns:C="http://calendarserver.org/ns/"/>
    <A:getetag/>
  </A:prop>
</A:sync-collection>"""

# dav4jvm DavCollection.reportChanges, as DAVx5 sends it (Depth: 0); an empty <sync-token/> at first
DAVX5 = """<?xml version='1.0' encoding='UTF-8' ?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>\
<sync-level>1</sync-level><prop><getcontenttype /><getetag /></prop></sync-collection>"""

# CalDAVTester's Resource/CalDAV/sharing/notification-sync/4.xml (Depth: 1)
CALDAVTESTER = """<?xml version="1.0" encoding="utf-8" ?>
<D:sync-collection xmlns:D="DAV:">
<D:sync-token>{token}</D:sync-token>
<D:prop/>
</D:sync-collection>"""

CLIENTS = {"apple": (APPLE, "1"), "davx5": (DAVX5, "0"), "caldavtester": (CALDAVTESTER, "1")}

SHARE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:set><D:href>{href}</D:href><CS:summary>{summary}</CS:summary><CS:{access}/></CS:set>
</CS:share>"""

UNSHARE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:remove><D:href>{href}</D:href></CS:remove>
</CS:share>"""

REPLY = """<?xml version="1.0" encoding="utf-8" ?>
<CS:invite-reply xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:href>/{user}/</D:href><CS:invite-accepted/>
  <CS:hosturl><D:href>{hosturl}</D:href></CS:hosturl>
  <CS:in-reply-to>{uid}</CS:in-reply-to>
</CS:invite-reply>"""

PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:getetag/><CS:notificationtype/><D:sync-token/><CS:getctag/></D:prop>
</D:propfind>"""


@dataclass
class Answer:
    token: str
    changed: dict[str, str | None]  # name -> ETag (None when not asked)
    removed: set[str]


def collection(user: str) -> str:
    return f"/{quote(user)}/.notifications/"


def sync(srv: Server, user: str, token: str = "", client: str = "apple") -> Answer:
    body, depth = CLIENTS[client]
    r = srv.request("REPORT", collection(user), user, body.format(token=token), headers={**XML, "Depth": depth})
    assert r.status_code == 207, (r.status_code, r.text)
    root = ET.fromstring(r.content)
    changed, removed = {}, set()
    for response in root.findall("D:response", NS):
        name = unquote(response.findtext("D:href", namespaces=NS)).rsplit("/", 1)[1]
        status = response.findtext("D:status", namespaces=NS)
        if status is not None:
            assert status == "HTTP/1.1 404 Not Found", status
            assert response.find("D:propstat", NS) is None
            removed.add(name)
        else:
            assert response.find("D:propstat/D:status", NS).text == "HTTP/1.1 200 OK"
            changed[name] = response.findtext("D:propstat/D:prop/D:getetag", namespaces=NS)
    token_now = root.findtext("D:sync-token", namespaces=NS)
    assert token_now
    return Answer(token_now, changed, removed)


def listing(srv: Server, user: str) -> tuple[str, dict[str, str]]:
    """The full listing (name -> ETag) by PROPFIND depth 1, and the sync-token it carries."""
    r = srv.request("PROPFIND", collection(user), user, PROPFIND, headers={**XML, "Depth": "1"})
    assert r.status_code == 207, r.text
    token, found = None, {}
    for response in ET.fromstring(r.content).findall("D:response", NS):
        href = unquote(response.findtext("D:href", namespaces=NS))
        if href.endswith("/"):
            token = response.findtext("D:propstat/D:prop/D:sync-token", namespaces=NS)
            ctag = response.findtext("D:propstat/D:prop/CS:getctag", namespaces=NS)
            assert ctag
        else:
            found[href.rsplit("/", 1)[1]] = response.findtext("D:propstat/D:prop/D:getetag", namespaces=NS)
    assert token
    return token, found


class Bob:
    """bob's devices: every token he was handed, with the listing that came with it."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.seen: list[tuple[str, dict[str, str]]] = []

    def look(self) -> dict[str, str]:
        """A full sync (no token) and a PROPFIND: the same listing; both tokens are kept."""
        first = sync(self.srv, "bob")
        token, now = listing(self.srv, "bob")
        assert first.changed == now and not first.removed, "a sync without a token lists everything"
        assert first.token == token, "PROPFIND and REPORT name the same listing by the same token"
        self.seen.append((token, now))
        return now

    def check_every_token(self) -> dict[str, str]:
        """Each earlier token's incremental answer is exactly the difference of its listing and now."""
        _, now = listing(self.srv, "bob")
        for token, then in self.seen:
            for client in CLIENTS:
                answer = sync(self.srv, "bob", token, client)
                expected_changed = {n for n in now if then.get(n) != now[n]}
                assert set(answer.changed) == expected_changed, (client, then, now)
                assert answer.removed == set(then) - set(now), (client, then, now)
                if client == "apple":
                    assert answer.changed == {n: now[n] for n in expected_changed}
        return now


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("notification-sync"), users=USERS).start()
    for user in USERS:
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    yield server
    server.stop()


def share(srv: Server, calendar: str, href: str, access: str = "read", summary: str = "") -> None:
    r = srv.request("POST", f"/alice/{quote(calendar)}/", "alice", SHARE.format(href=href, summary=summary,
                                                                               access=access), headers=XML)
    assert r.status_code == 200, r.text


def invitation_names(srv: Server, user: str) -> dict[str, ET.Element]:
    """{name: CS:invite-notification} of the user's pending invitations, as GET returns them."""
    found = {}
    for name in listing(srv, user)[1]:
        r = srv.request("GET", collection(user) + quote(name), user)
        body = ET.fromstring(r.content)[1]
        if body.tag.endswith("invite-notification") and body.find("CS:invite-noresponse", NS) is not None:
            found[name] = body
    return found


def test_every_sync_answers_exactly_what_changed_since_its_token(srv: Server) -> None:
    bob = Bob(srv)
    assert bob.look() == {}
    for calendar in (FUSSBALL, FAMILY, "Müller"):
        assert srv.request("MKCALENDAR", f"/alice/{quote(calendar)}/", "alice").status_code == 201
    srv.groups_file.write_text("nachbarn: carol\n")  # the admin's circle, with an invitation bob is not in yet
    srv.ok("invite", "alice/Müller", "--circle", "nachbarn", "--role", "subscriber", acting_as="alice")

    # an invitation to bob (by an Apple client) and one to his circle (from the CLI)
    share(srv, FUSSBALL, "/bob/", summary="Training 🎉")
    srv.ok("circle", "create", "familie", "--manager", "alice")
    srv.ok("circle", "add", "familie", "bob", "carol", acting_as="alice")
    srv.ok("invite", f"alice/{FAMILY}", "--circle", "familie", "--role", "subscriber", acting_as="alice")
    added = bob.check_every_token()
    assert len(added) == 2
    bob.look()

    # the owner changes the access of the pending invitation: its notice changes
    share(srv, FUSSBALL, "/bob/", access="read-write", summary="Training 🎉")
    changed = bob.check_every_token()
    assert set(changed) == set(added) and changed != added
    bob.look()

    # bob accepts one (its notice goes), dismisses the other (deleted: it goes, the invitation stays)
    pending = invitation_names(srv, "bob")
    [(football, body)] = [(n, b) for n, b in pending.items() if "Fu%C3%9Fball" in b.findtext(
        "CS:hosturl/D:href", namespaces=NS)]
    r = srv.request("POST", "/bob/", "bob", REPLY.format(user="bob", hosturl=f"/alice/{quote(FUSSBALL)}/",
                                                          uid=body.findtext("CS:uid", namespaces=NS)), headers=XML)
    assert r.status_code == 200, r.text
    [family] = set(pending) - {football}
    assert srv.request("DELETE", collection("bob") + quote(family), "bob").status_code == 204
    assert bob.check_every_token() == {}
    bob.look()

    # alice changes the calendar bob accepted; the worker delivers the change notice into his collection
    put_event(srv, "alice", f"/alice/{quote(FUSSBALL)}/match.ics", "match", "Spiel gegen Müller 🎉")
    worker_of(srv, FakeClock()).run_until_idle()
    [notice] = bob.check_every_token()
    bob.look()

    # bob joins a circle with a pending invitation in the admin's groups file: no request of his, yet it appears
    srv.groups_file.write_text("nachbarn: carol bob\n")
    joined = bob.check_every_token()
    assert len(joined) == 2
    bob.look()

    # alice withdraws the share bob accepted: he is told (a stored notice); bob deletes the change notice
    r = srv.request("POST", f"/alice/{quote(FUSSBALL)}/", "alice", UNSHARE.format(href="/bob/"), headers=XML)
    assert r.status_code == 200, r.text
    assert srv.request("DELETE", collection("bob") + quote(notice), "bob").status_code == 204
    # and he leaves the circle: its invitation's notice goes without any request of his
    srv.groups_file.write_text("nachbarn: carol\n")
    last = bob.check_every_token()
    [withdrawn] = last
    assert withdrawn != notice
    r = srv.request("GET", collection("bob") + quote(withdrawn), "bob")
    assert ET.fromstring(r.content).find("CS:invite-notification/CS:invite-deleted", NS) is not None
    bob.look()
    bob.check_every_token()


def test_nothing_changed_answers_nothing_and_keeps_the_token(srv: Server) -> None:
    first = sync(srv, "carol", client="davx5")
    again = sync(srv, "carol", first.token, client="davx5")
    assert again.changed == {} and again.removed == set() and again.token == first.token


@pytest.mark.parametrize("token", [
    "urn:radicale-ext:notifications:999999999",                 # a version that never was
    "urn:radicale-ext:notifications:0123456789abcdef0123456789abcdef",  # the form tokens had before
    "http://radicale.org/ns/sync/" + "0" * 64,                  # a calendar's token
    "urn:radicale-ext:notifications:١٢",                        # digits, but not ours
    "not a token",
])
def test_an_unknown_token_is_refused_with_valid_sync_token(srv: Server, token: str) -> None:
    r = srv.request("REPORT", collection("carol"), "carol", APPLE.format(token=token), headers={**XML, "Depth": "1"})
    assert r.status_code == 403, r.text
    assert ET.fromstring(r.content)[0].tag == "{DAV:}valid-sync-token"
    assert "sync again without" in r.text


def test_another_persons_token_is_refused(srv: Server) -> None:
    alices = sync(srv, "alice").token
    r = srv.request("REPORT", collection("carol"), "carol", APPLE.format(token=alices), headers={**XML, "Depth": "1"})
    assert r.status_code == 403 and ET.fromstring(r.content)[0].tag == "{DAV:}valid-sync-token"


def test_a_token_older_than_the_kept_history_is_refused(srv: Server) -> None:
    """60 days of idle time, by moving the recorded times back (the server runs in its own process)."""
    assert srv.request("MKCALENDAR", "/alice/alt/", "alice").status_code == 201
    old = sync(srv, "carol").token
    share(srv, "alt", "/carol/")
    middle = sync(srv, "carol", old).token
    db = srv.sharing_db()
    with db:
        db.execute("UPDATE inbox_versions SET at = at - 61 * 86400 WHERE user = 'carol'")
    unchanged = sync(srv, "carol", middle)
    assert (unchanged.token, unchanged.changed, unchanged.removed) == (middle, {}, set()), \
        "the latest listing stays answerable however old"
    r = srv.request("POST", "/alice/alt/", "alice", UNSHARE.format(href="/carol/"), headers=XML)
    assert r.status_code == 200
    for token in (middle, old):
        r = srv.request("REPORT", collection("carol"), "carol", APPLE.format(token=token),
                        headers={**XML, "Depth": "1"})
        assert r.status_code == 403 and ET.fromstring(r.content)[0].tag == "{DAV:}valid-sync-token", token
        assert "has not synced for 60 days" in r.text
    fresh = sync(srv, "carol")
    assert fresh.changed == listing(srv, "carol")[1] and not fresh.removed, "a sync from scratch"
    assert sync(srv, "carol", fresh.token).changed == {}


LIMITED = """<?xml version='1.0' encoding='UTF-8' ?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>\
<sync-level>1</sync-level><limit><nresults>{n}</nresults></limit><prop><getetag /></prop></sync-collection>"""


def test_a_limit_is_kept_or_the_sync_refused_with_number_of_matches_within_limits(srv: Server) -> None:
    for name in ("lim1", "lim2"):
        assert srv.request("MKCALENDAR", f"/alice/{name}/", "alice").status_code == 201
    start = sync(srv, "carol").token
    share(srv, "lim1", "/carol/")
    share(srv, "lim2", "/carol/")
    r = srv.request("REPORT", collection("carol"), "carol", LIMITED.format(token=start, n=1), headers=XML)
    assert r.status_code == 507, r.text
    assert ET.fromstring(r.content)[0].tag == "{DAV:}number-of-matches-within-limits"
    r = srv.request("REPORT", collection("carol"), "carol", LIMITED.format(token=start, n=2), headers=XML)
    assert r.status_code == 207 and len(ET.fromstring(r.content).findall("D:response", NS)) == 2
    for bad in ("0", "-1", "lots", "9" * 30):
        r = srv.request("REPORT", collection("carol"), "carol", LIMITED.format(token=start, n=bad), headers=XML)
        assert r.status_code == 400, (bad, r.text)


def test_a_sync_level_other_than_1_or_infinite_is_refused(srv: Server) -> None:
    body = DAVX5.format(token="").replace("<sync-level>1</sync-level>", "<sync-level>2</sync-level>")
    r = srv.request("REPORT", collection("carol"), "carol", body, headers=XML)
    assert r.status_code == 400 and "sync-level" in r.text
    infinite = DAVX5.format(token="").replace("<sync-level>1</sync-level>", "<sync-level>infinite</sync-level>")
    assert srv.request("REPORT", collection("carol"), "carol", infinite, headers=XML).status_code == 207


def test_only_the_owner_syncs_their_notification_collection(srv: Server) -> None:
    token = sync(srv, "carol").token
    r = srv.request("REPORT", collection("carol"), "bob", APPLE.format(token=token), headers={**XML, "Depth": "1"})
    assert r.status_code == 403
    r = srv.request("REPORT", collection("carol"), None, APPLE.format(token=token), headers={**XML, "Depth": "1"})
    assert r.status_code == 401
