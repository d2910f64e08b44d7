"""Web page benchmark (issue 14): every page of a person with many shares, links and circles.

    python bench/run_web_pages.py [--shares 200] [--links 50] [--circles 20] [--repeat 30] [--keep]

One radicale-ext server (tests/server.py's config, under bench/work/web-*).
Alice owns 40 collections (30 calendars "家庭 N", 10 address books
"Kontakte N"); they are shared ``--shares`` times in all, by invitation, with
people and circles (a quarter of the shares to circles); she manages
``--circles`` circles "Fussball-Team-N" of five members each, has ``--links``
share links on her calendars, and 20 invitations from others wait for her.

Timed: GET of every page the menu of ``/.my/`` names (found from the page
itself, so pages added later are measured too), the share page of her most
shared calendar, and the "new link" form, each through a logged-in keep-alive
session, interleaved round by round.  The server's time is read from the
``Server-Timing`` header the page sends (its wall clock and its thread's
processor time); the client's wall clock is shown beside it.  Target: the
server's median under 50 ms for every page.  The table goes between the ``web-pages`` markers of
bench/RESULTS.md; exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import html
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import requests  # noqa: E402
from http_timing import expect  # noqa: E402
from results import add_run_options, machine_line, ms, publish, work_folder  # noqa: E402

from radicale_ext.base.model import Grantee, GranteeKind, Role  # noqa: E402
from radicale_ext.site import Settings, Site  # noqa: E402
from tests.server import Server, make_server, password  # noqa: E402

RESULTS = PROJECT / "bench" / "RESULTS.md"
TARGET_MS = 50.0
PAGE = "/.my"
PEOPLE = tuple(f"{first}{n:02d}" for n in range(1, 9)
               for first in ("lena", "jonas", "wei", "mei", "anna"))   # 40 people besides alice
CALENDARS = tuple(f"家庭 {n}" for n in range(1, 31))
BOOKS = tuple(f"Kontakte {n}" for n in range(1, 11))
MKCOL_BOOK = ('<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
              'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>'
              "<CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>")
_MENU = re.compile(r'<nav[^>]*>(.*?)</nav>', re.S)
_HREF = re.compile(r'href="([^"]+)"')


def event(n: int) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:training-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270104T170000Z\r\nDURATION:PT1H\r\n"
            f"SUMMARY:Fußball 🎉 {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def make_collections(server: Server, owner: str, calendars: tuple[str, ...], books: tuple[str, ...]) -> None:
    session = requests.Session()
    session.auth = (owner, password(owner))
    for name in calendars:
        url = f"{server.url}/{owner}/{quote(name)}/"
        expect(session.request("MKCALENDAR", url), 201)
        expect(session.put(url + "training.ics", data=event(1), headers={"Content-Type": "text/calendar"}), 201)
    for name in books:
        expect(session.request("MKCOL", f"{server.url}/{owner}/{quote(name)}/", data=MKCOL_BOOK.encode()), 201)


def fill(server: Server, shares: int, links: int, circles: int) -> dict[str, int]:
    make_collections(server, "alice", CALENDARS, BOOKS)
    for person in PEOPLE[:20]:   # 20 invitations wait for alice
        make_collections(server, person, (f"Kalender von {person}",), ())
    site = Site(Settings.from_ini(str(server.config)))
    circle_names = [f"Fussball-Team-{n}" for n in range(1, circles + 1)]
    for n, name in enumerate(circle_names):
        site.circles.create(name, ["alice"], actor="alice")
        site.circles.add_members(name, [PEOPLE[(n * 5 + k) % len(PEOPLE)] for k in range(5)], actor="alice")
    collections = [f"/alice/{name}/" for name in CALENDARS + BOOKS]
    grantees = [Grantee(GranteeKind.USER, p) for p in PEOPLE] + [Grantee(GranteeKind.CIRCLE, c) for c in circle_names]
    made = 0
    for n in range(shares):   # collection by collection, each with different people: never the same pair twice
        collection = collections[n % len(collections)]
        round_ = n // len(collections)
        grantee = (grantees[len(PEOPLE) + (n + round_) % len(circle_names)] if n % 4 == 3 and circle_names
                   else grantees[(n * 7 + round_) % len(PEOPLE)])
        role = Role.COLLABORATOR if n % 3 == 0 else Role.SUBSCRIBER
        site.shares.add(collection, grantee, role, actor="alice")
        made += 1
    for n in range(links):
        calendar = f"/alice/{CALENDARS[n % len(CALENDARS)]}/"
        target = site.links.target(calendar, event="training.ics") if n % 2 else site.links.target(calendar)
        site.links.create(target, label=f"Link {n} für Oma", actor="alice",
                          expires_at=time.time() + 86400 * (30 + n))
    for person in PEOPLE[:20]:
        site.shares.add(f"/{person}/Kalender von {person}/", Grantee(GranteeKind.USER, "alice"), Role.SUBSCRIBER,
                        actor=person)
    return {"shares": made, "links": len(site.links.links_by("alice")), "circles": len(circle_names),
            "invitations": len(site.invitations.awaiting("alice"))}


def logged_in(server: Server, user: str) -> requests.Session:
    session = requests.Session()
    session.headers["Accept-Language"] = "en"
    form = expect(session.get(f"{server.url}{PAGE}/login"), 200).text
    token = html.unescape(re.search(r'name="csrf" value="([^"]*)"', form).group(1))
    expect(session.post(f"{server.url}{PAGE}/login", allow_redirects=False,
                        data={"user": user, "password": password(user), "next": "/", "csrf": token}), 303)
    return session


def pages(server: Server, session: requests.Session) -> dict[str, str]:
    """Name -> path of every page measured: the menu's, the busiest share page, the new link form."""
    first = expect(session.get(f"{server.url}{PAGE}/"), 200).text
    menu = _MENU.search(first)
    found = {"/": f"{PAGE}/"}
    for href in _HREF.findall(menu.group(1) if menu else ""):
        href = html.unescape(href)
        if href.startswith(PAGE + "/") and "logout" not in href:
            found.setdefault(href.removeprefix(PAGE), href)
    found["/shares?collection=/alice/家庭 1/"] = f"{PAGE}/shares?collection={quote('/alice/家庭 1/')}"
    found["/links/new?collection=/alice/家庭 1/"] = f"{PAGE}/links/new?collection={quote('/alice/家庭 1/')}"
    return found


_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")


def measure(server: Server, repeat: int, warmup: int) -> dict[str, dict[str, list[float]]]:
    """Per page: the client's wall clock and the server's own ``Server-Timing`` (page, cpu), in s."""
    session = logged_in(server, "alice")
    paths = pages(server, session)
    samples: dict[str, dict[str, list[float]]] = {name: {"client": [], "page": [], "cpu": []} for name in paths}
    for i in range(warmup + repeat):
        for name, path in paths.items():
            began = time.perf_counter()
            response = expect(session.get(server.url + path, allow_redirects=False), 200)
            elapsed = time.perf_counter() - began
            if i >= warmup:
                timing = dict(_TIMING.findall(response.headers["Server-Timing"]))
                samples[name]["client"].append(elapsed)
                samples[name]["page"].append(float(timing["page"]) / 1000)
                samples[name]["cpu"].append(float(timing["cpu"]) / 1000)
    return samples


def report(args: argparse.Namespace, samples: dict[str, list[float]], counts: dict[str, int], seconds: float,
           load: tuple[float, ...]) -> tuple[str, bool]:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_web_pages.py" + "".join(f" {a}" for a in sys.argv[1:])
    passed = True
    rows = []
    for name, kinds in samples.items():
        ok = statistics.median(kinds["page"]) * 1000 < TARGET_MS
        passed &= ok
        rows.append(f"| `{name}` | {ms(kinds['page'])} | {ms(kinds['cpu'])} | {ms(kinds['client'])} | "
                    f"< {TARGET_MS:.0f} | {'PASS' if ok else 'FAIL'} |")
    lines = [
        f"Run of {when}: `{command}`",
        "",
        machine_line(load),
        f"- data: alice owns 40 collections shared {counts['shares']} times (people and circles, by invitation), "
        f"manages {counts['circles']} circles of five, has {counts['links']} share links, and "
        f"{counts['invitations']} invitations wait for her; {args.repeat} timed rounds after {args.warmup} untimed, "
        f"every page once per round; {seconds:.0f} s in all",
        "- times in ms, median (p90), of a GET over a logged-in keep-alive session on loopback: the server's "
        "own (its `Server-Timing` header: the page's wall clock, and the processor time of its thread), and the "
        "client's wall clock",
        "",
        "| page (under /.my) | server | server processor | client | target (server median, ms) | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *rows,
        "",
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shares", type=int, default=200)
    parser.add_argument("--links", type=int, default=50)
    parser.add_argument("--circles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    began = time.monotonic()
    root = work_folder("web-")
    server = make_server(root / "ours", users=("alice", *PEOPLE)).start()
    try:
        print(f"making {args.shares} shares, {args.links} links, {args.circles} circles ...", flush=True)
        counts = fill(server, args.shares, args.links, args.circles)
        print(f"timing {args.repeat} rounds ...", flush=True)
        samples = measure(server, args.repeat, args.warmup)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text, passed = report(args, samples, counts, time.monotonic() - began, load)
    publish(text, args, "web-pages",
            "## Web page render times (issue 14, `bench/run_web_pages.py`)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
