"""Cards benchmark (issue 5): "Shared contacts" against a plain address book, and the directory.

    python bench/run_cards.py [--owners 10000] [--shared 2000] [--repeat 30] [--keep]

One radicale-ext server (tests/server.py's config, under bench/work/cards-*):

- ``--owners`` people (default 10,000) each with a me card (vCard 3.0, nine
  fields) in their own address book, shared with the circle ``staff``
  (bob is in it) as ``FN, N, ORG, TEL work, EMAIL work``;
- the first ``--shared`` of them (default 2,000) also share with the
  circle ``club`` (carol), so carol's "Shared contacts" holds 2,000
  projected cards;
- carol's plain address book ``/carol/plain/`` holds the same 2,000 cards as
  carol sees them, stored by one PUT.

The owners' collections are written in Radicale's folder layout and their
me cards designated and shared through the core (the same calls as the
command line), so that 10,000 accounts need not log in once each.

Timed, interleaved, for carol: PROPFIND depth 1 (``getetag``,
``getcontenttype``), sync-collection without a token (first sync) and with
the current one (nothing changed), and addressbook-multiget of every card;
each on "Shared contacts" and on the plain address book.  Target: each
within 1.5x of the plain address book.  Then bob's directory
(addressbook-query, FN contains a family name about 0.5% of the 10,000 share,
and a name nobody has) over all 10,000 people: target well under a second
(0.25 s).  The tables go between the ``cards`` markers of bench/RESULTS.md;
exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import requests  # noqa: E402
from http_timing import expect, timed  # noqa: E402
from results import add_run_options, machine_line, ms, publish, work_folder  # noqa: E402

from radicale_ext.base.model import Grantee, GranteeKind  # noqa: E402
from radicale_ext.site import Settings, Site  # noqa: E402
from tests.samples import address_book_mkcol  # noqa: E402
from tests.server import Server, make_server, password  # noqa: E402

RESULTS = PROJECT / "bench" / "RESULTS.md"
LIST_TARGET, DIRECTORY_TARGET = 1.5, 0.25
GIVEN = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Leon",
         "Mia", "Noah", "Olga", "Paul", "Rosa", "Samuel", "Tilda", "Uwe")
FAMILY = tuple(f"{a}{b}" for a in ("Berg", "Hof", "Wald", "Stein", "Feld", "Brun", "Mar", "Lind", "Ros", "Kal")
               for b in ("mann", "er", "inger", "ström", "sen", "berg", "ke", "holm", "ov", "ez",
                         "ard", "hus", "tz", "ow", "li", "ini", "oni", "sky", "dal", "vik"))
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{owner}-card\r\nFN:{given} {family}\r\nN:{family};{given};;;\r\n"
        "ORG:Company {org}\r\nTITLE:Engineer\r\nTEL;TYPE=WORK,VOICE:+49 30 {n:07d}\r\nTEL;TYPE=CELL:+49 170 {n:07d}\r\n"
        "EMAIL;TYPE=INTERNET,WORK:{owner}@work.example\r\nEMAIL;TYPE=INTERNET,HOME:{owner}@home.example\r\n"
        "NOTE:Benchmark card {n}\r\nEND:VCARD\r\n")
FIELDS = "FN, N, ORG, TEL work, EMAIL work"
PROPFIND = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            "<D:getcontenttype/></D:prop></D:propfind>")
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}'
        "</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
MULTIGET = ('<?xml version="1.0" encoding="utf-8"?><CR:addressbook-multiget xmlns:D="DAV:" '
            'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>'
            "{hrefs}</CR:addressbook-multiget>")
QUERY = ('<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" '
         'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>'
         '<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">{text}</CR:text-match>'
         "</CR:prop-filter></CR:filter></CR:addressbook-query>")
NS = {"D": "DAV:"}


def owner_name(n: int) -> str:
    return f"user{n:05d}"


def card_text(n: int) -> str:
    return CARD.format(owner=owner_name(n), given=GIVEN[n % len(GIVEN)], family=FAMILY[(n * 7) % len(FAMILY)],
                       org=n % 97, n=n)


def write_owners(server: Server, owners: int) -> None:
    """Each owner's address book and me card, in Radicale's folder layout."""
    root = server.root / "data" / "collections" / "collection-root"
    props = json.dumps({"tag": "VADDRESSBOOK", "D:displayname": "Contacts"})
    for n in range(owners):
        book = root / owner_name(n) / "contacts"
        book.mkdir(parents=True)
        (book / ".Radicale.props").write_text(props)
        (book / "me.vcf").write_text(card_text(n), newline="")


def share_cards(server: Server, owners: int, shared: int) -> None:
    site = Site(Settings.from_ini(str(server.config)))
    try:
        site.circles.create("staff", ["bob"])  # a circle's first managers are its first members
        site.circles.create("club", ["carol"])
        for n in range(owners):
            owner = owner_name(n)
            site.cards.set_me(f"{owner}/contacts/me.vcf")
            site.cards.share(owner, Grantee(GranteeKind.CIRCLE, "staff"), FIELDS)
            if n < shared:
                site.cards.share(owner, Grantee(GranteeKind.CIRCLE, "club"), FIELDS)
        projected = [card.text for _owner, card in sorted(site.shared_contacts.served("carol").items())]
    finally:
        site.db.close()
    if len(projected) != shared:
        raise RuntimeError(f"carol sees {len(projected)} cards, expected {shared}")
    carol = requests.Session()
    carol.auth = ("carol", password("carol"))
    expect(carol.request("MKCOL", server.url + "/carol/plain/", data=address_book_mkcol("Plain")), 201)
    for card in projected:  # the same cards, stored as an ordinary address book
        uid = next(line for line in card.split("\r\n") if line.startswith("UID:"))[4:]
        expect(carol.put(f"{server.url}/carol/plain/{uid.rsplit(':', 1)[-1]}.vcf", data=card.encode(),
                         headers={"Content-Type": "text/vcard"}), 201)






def hrefs_of(response: requests.Response) -> list[str]:
    return [r.findtext("D:href", namespaces=NS) for r in ET.fromstring(response.content).findall("D:response", NS)]


def measure(server: Server, repeat: int, warmup: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    carol = requests.Session()
    carol.auth = ("carol", password("carol"))
    books = {"shared": "/carol/.shared-contacts/", "plain": "/carol/plain/"}
    counts, tokens, multiget = {}, {}, {}
    for kind, path in books.items():
        listing = expect(carol.request("PROPFIND", server.url + path, data=PROPFIND, headers={"Depth": "1"}), 207)
        counts[kind] = len([h for h in hrefs_of(listing) if h.endswith(".vcf")])
        first = expect(carol.request("REPORT", server.url + path, data=SYNC.format(token=""),
                                     headers={"Depth": "1"}), 207)
        tokens[kind] = ET.fromstring(first.content).findtext("D:sync-token", namespaces=NS)
        multiget[kind] = MULTIGET.format(hrefs="".join(f"<D:href>{h}</D:href>" for h in hrefs_of(first)))

    def probe(kind: str, what: str) -> Callable[[], float]:
        url = server.url + books[kind]
        if what == "PROPFIND depth 1":
            return lambda: timed(lambda: carol.request("PROPFIND", url, data=PROPFIND, headers={"Depth": "1"}), 207)
        if what == "sync-collection, first":
            return lambda: timed(lambda: carol.request("REPORT", url, data=SYNC.format(token=""),
                                                       headers={"Depth": "1"}), 207)
        if what == "sync-collection, no change":
            return lambda: timed(lambda: carol.request("REPORT", url, data=SYNC.format(token=tokens[kind]),
                                                       headers={"Depth": "1"}), 207)
        return lambda: timed(lambda: carol.request("REPORT", url, data=multiget[kind], headers={"Depth": "1"}), 207)

    whats = ("PROPFIND depth 1", "sync-collection, first", "sync-collection, no change", "multiget, every card")
    probes = [(what, kind, probe(kind, what)) for what in whats for kind in books]
    samples: dict[str, dict[str, list[float]]] = {what: {kind: [] for kind in books} for what in whats}
    for i in range(warmup + repeat):
        shift = i % len(probes)
        for what, kind, call in probes[shift:] + probes[:shift]:
            elapsed = call()
            if i >= warmup:
                samples[what][kind].append(elapsed)
    return samples, counts


def measure_directory(server: Server, repeat: int) -> dict[str, tuple[list[float], int]]:
    bob = requests.Session()
    bob.auth = ("bob", password("bob"))
    url = server.url + "/bob/.directory/"
    found = {}
    for label, text in ((f"FN contains \"{FAMILY[3]}\"", FAMILY[3]), ("FN contains \"anna berg\"", "anna berg"),
                        ("FN contains \"nobody-has-this\"", "nobody-has-this")):
        body = QUERY.format(text=text)
        first = expect(bob.request("REPORT", url, data=body, headers={"Depth": "1"}), 207)
        times = [timed(lambda b=body: bob.request("REPORT", url, data=b, headers={"Depth": "1"}), 207)
                 for _ in range(repeat)]
        found[label] = (times, len(hrefs_of(first)))
    return found


def report(args: argparse.Namespace, samples: dict, counts: dict, directory: dict, seconds: float,
           load: tuple[float, ...]) -> tuple[str, bool]:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_cards.py" + "".join(f" {a}" for a in sys.argv[1:])
    passed = True
    rows = []
    for what, by_kind in samples.items():
        ratio = statistics.median(by_kind["shared"]) / statistics.median(by_kind["plain"])
        ok = ratio <= LIST_TARGET
        passed &= ok
        rows.append(f"| {what} | {ms(by_kind['plain'])} | {ms(by_kind['shared'])} | {ratio:.2f}x | "
                    f"<= {LIST_TARGET}x | {'PASS' if ok else 'FAIL'} |")
    lookups = []
    for label, (times, hits) in directory.items():
        ok = statistics.median(times) <= DIRECTORY_TARGET
        passed &= ok
        lookups.append(f"| {label} | {hits} | {ms(times)} | <= {DIRECTORY_TARGET * 1000:.0f} ms | "
                       f"{'PASS' if ok else 'FAIL'} |")
    lines = [
        f"Run of {when}: `{command}`",
        "",
        machine_line(load),
        f"- data: {args.owners} people with a me card, all shared with bob's circle; {args.shared} of them also "
        f"with carol's, so carol's \"Shared contacts\" lists {counts['shared']} projected cards and her plain "
        f"address book the same {counts['plain']} cards; {args.repeat} timed rounds after {args.warmup} "
        f"untimed, all eight requests interleaved; {seconds:.0f} s in all",
        "- times are client-side wall clock over a keep-alive session, in ms: median (p90)",
        "",
        "| carol's request | plain address book | Shared contacts | ratio | target | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *rows,
        "",
        f"| bob's directory query over {args.owners} people | cards answered | median (p90) ms | target | result |",
        "| --- | ---: | ---: | --- | --- |",
        *lookups,
        "",
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--shared", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    began = time.monotonic()
    root = work_folder("cards-")
    server = make_server(root / "ours", users=("bob", "carol")).start()
    try:
        for user in ("bob", "carol"):
            expect(server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}), 207)
        print(f"writing {args.owners} me cards ...", flush=True)
        write_owners(server, args.owners)
        print("designating and sharing them ...", flush=True)
        share_cards(server, args.owners, args.shared)
        print(f"timing {args.repeat} rounds ...", flush=True)
        samples, counts = measure(server, args.repeat, args.warmup)
        directory = measure_directory(server, args.repeat)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text, passed = report(args, samples, counts, directory, time.monotonic() - began, load)
    publish(text, args, "cards",
            "## Me cards: Shared contacts and the directory (issue 5, `bench/run_cards.py`)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
