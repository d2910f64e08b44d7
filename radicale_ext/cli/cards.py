"""radicale-ext card ...: the me card, who sees which of its fields, and the cards others share."""

from __future__ import annotations

import argparse
import sys

from ..base.errors import ExtError, Forbidden
from ..base.model import Grantee, GranteeKind
from ..cards.directory import MATCH_TYPES
from ..cards.me_cards import Audience, CardBook, card_uid
from ..cards.projection import BadCard, fields_text, project, read_card
from ..cards.shared_contacts import PendingUpdate
from ..site import Site
from ._common import Commands, out
from .shares import people_of


def _whose(args: argparse.Namespace, given: str | None, option: str) -> str:
    """The person a command is about: ``given`` (the admin names anyone), else the one acting."""
    if given and args.acting_as and given != args.acting_as:
        raise Forbidden(f"{args.acting_as!r} may not act for {given!r}")
    person = given or args.acting_as
    if not person:
        raise ExtError(f"say whose: {option} USER (or --as USER)")
    return person


def _grantee(args: argparse.Namespace) -> Grantee:
    return Grantee(GranteeKind.USER, args.user) if args.user else Grantee(GranteeKind.CIRCLE, args.circle)


def _audience_row(audience: Audience) -> dict:
    return {"audience": str(audience.grantee), "fields": fields_text(audience.selectors)}


def card_set_me(args: argparse.Namespace, site: Site) -> None:
    me = site.cards.set_me(args.card_path, card=args.card, actor=args.acting_as)
    print(f"{me.owner}'s me card is now {me}; share it with 'radicale-ext card share'")
    people = {person for share in site.shares.shares_of(me.collection) for person in people_of(site, share.grantee)}
    warning = site.cards.share_warning(me.collection, people, site.circles.circles_of, through="its shares")
    if warning:
        print(warning, file=sys.stderr)


def card_unset_me(args: argparse.Namespace, site: Site) -> None:
    owner = _whose(args, args.owner, "--owner")
    me = site.cards.unset_me(owner, actor=args.acting_as)
    print(f"{owner} has no me card any more ({me} stays a card of its address book); nobody sees it, "
          "and its audiences are gone")


def card_replace(args: argparse.Namespace, site: Site) -> None:
    owner = _whose(args, args.owner, "--owner")
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8", newline="") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ExtError(f"cannot read {args.file!r}: {getattr(e, 'strerror', None) or e}") from None
    me = site.cards.replace_me(owner, text, actor=args.acting_as)
    print(f"{me} is replaced; the people it is shared with see their part of it from now on")


def card_share(args: argparse.Namespace, site: Site) -> None:
    owner = _whose(args, args.owner, "--owner")
    audience = site.cards.share(owner, _grantee(args), args.fields, actor=args.acting_as)
    print(f"{audience.grantee} now sees {fields_text(audience.selectors)} of {owner}'s card")


def card_unshare(args: argparse.Namespace, site: Site) -> None:
    owner = _whose(args, args.owner, "--owner")
    grantee = _grantee(args)
    site.cards.unshare(owner, grantee, actor=args.acting_as)
    print(f"{owner}'s card is no longer shared with {grantee}")


def card_show(args: argparse.Namespace, site: Site) -> None:
    """The me card and its audiences; with --for or --audience, the card as that person or audience sees it."""
    owner = _whose(args, args.owner, "--owner")
    me = site.cards.me_card(owner)
    if me is None:
        raise ExtError(f"{owner!r} has no me card yet; choose one: radicale-ext card set-me {owner}/BOOK/CARD.vcf")
    if args.for_user or args.audience:
        print(_projected_text(site.cards, owner, args), end="")
        return
    if args.stored:
        stored = site.cards.stored(me)
        if stored is None:
            raise ExtError(f"the me card {me} is missing; choose another with 'radicale-ext card set-me'")
        print(stored.text, end="")
        return
    rows = [_audience_row(a) for a in site.cards.audiences(owner)]
    if args.json:
        out(args, [{"me_card": str(me), "audiences": rows}], str)
        return
    print(f"me card: {me}")
    for row in rows:
        print(f"{row['audience']}: {row['fields']}")
    if not rows:
        print("shared with nobody yet")


def _projected_text(cards: CardBook, owner: str, args: argparse.Namespace) -> str:
    me = cards.me_card(owner)
    assert me is not None
    stored = cards.stored(me)
    if stored is None:
        raise ExtError(f"the me card {me} is missing; choose another with 'radicale-ext card set-me'")
    if args.audience:
        selectors = cards.audience(owner, args.audience).selectors
    else:
        selectors = cards.recipients(owner).get(args.for_user, ())
    try:
        projected = project(read_card(stored.text), selectors, card_uid(owner))
    except BadCard as e:
        raise ExtError(f"the me card {me} is not valid: {e}") from None
    if projected is None:
        who = args.audience or args.for_user
        raise ExtError(f"{who} sees nothing of {owner}'s card (its fields do not include FN, the name)")
    return projected.text


def card_list(args: argparse.Namespace, site: Site) -> None:
    """The cards shared with a person, as they see them."""
    user = _whose(args, args.user, "--user")
    cards = site.shared_contacts.served(user)
    rows = [{"owner": owner, "name": read_card(card.text).name, "href": card.href, "etag": card.etag,
             "card": card.text} for owner, card in sorted(cards.items())]
    out(args, rows, lambda r: f"{r['owner']}: {r['name']} ({r['href']})")


def card_lookup(args: argparse.Namespace, site: Site) -> None:
    """Look people up by name, as the directory answers: each card as the person asking may see it."""
    user = _whose(args, args.user, "--user")
    found = site.directory.lookup(user, args.name, args.match)
    rows = [{"owner": c.owner, "name": read_card(c.text).name, "card": c.text} for c in found]
    if args.json:
        out(args, rows, str)
        return
    for row in rows:
        print(row["card"], end="")


def card_ask_first(args: argparse.Namespace, site: Site) -> None:
    user = _whose(args, args.user, "--user")
    site.shared_contacts.ask_first(user, args.setting == "on", args.from_owner, actor=args.acting_as)
    whose = f"{args.from_owner}'s card" if args.from_owner else "cards shared with you"
    if args.setting == "on":
        print(f"{user}: changes of {whose} now wait for your answer ('radicale-ext card updates')")
    else:
        print(f"{user}: changes of {whose} now show at once")


def _update_line(update: PendingUpdate) -> str:
    what = ", ".join(update.fields) or "the card"
    return f"{update.owner}: {update.name} changed {what}"


def card_updates(args: argparse.Namespace, site: Site) -> None:
    user = _whose(args, args.user, "--user")
    waiting = site.shared_contacts.pending(user, actor=args.acting_as)
    rows = [{"owner": u.owner, "name": u.name, "fields": u.fields} for u in waiting]
    out(args, rows, lambda r: _update_line(PendingUpdate(r["owner"], r["name"], r["fields"])))
    if not rows and not args.json:
        print("no changed cards are waiting for your answer")


def card_accept(args: argparse.Namespace, site: Site) -> None:
    user = _whose(args, args.user, "--user")
    update = site.shared_contacts.accept(user, args.owner, actor=args.acting_as)
    print(f"{user} accepted the new version of {update.owner}'s card")


def card_decline(args: argparse.Namespace, site: Site) -> None:
    user = _whose(args, args.user, "--user")
    update = site.shared_contacts.decline(user, args.owner, actor=args.acting_as)
    print(f"{user} keeps the version of {update.owner}'s card they had; this change will not be offered again")


def _audience_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--owner", help="whose card (default: the user of --as)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a user")
    who.add_argument("--circle", help="a circle: everyone in it")


def register(commands: Commands) -> None:
    group = commands.group("card", "the me card: which fields each user or circle sees, and cards shared with you")
    set_me = group.command("set-me", "choose your me card, a card of one of your address books", card_set_me)
    set_me.add_argument("card_path", metavar="OWNER/BOOK/CARD.vcf", help="e.g. alice/contacts/alice.vcf")
    set_me.add_argument("--card", help="the card's file name or UID, when the path names only the address book")
    unset_me = group.command("unset-me", "stop having a me card: nobody sees it any more, its audiences go",
                             card_unset_me)
    unset_me.add_argument("--owner", help="whose (default: the user of --as)")
    replace = group.command("replace", "replace the me card's content with a vCard file (- reads stdin)",
                            card_replace)
    replace.add_argument("file", metavar="FILE")
    replace.add_argument("--owner", help="whose card (default: the user of --as)")
    share = group.command("share", "let a user or circle see these fields of the me card", card_share)
    _audience_options(share)
    share.add_argument("--fields", required=True,
                       help='fields and types, e.g. "FN, ORG, TEL work, EMAIL work", or "*" for everything')
    unshare = group.command("unshare", "stop sharing the me card with a user or circle", card_unshare)
    _audience_options(unshare)
    show = group.command("show", "the me card and its audiences, or the card as someone sees it", card_show)
    show.add_argument("--owner", help="whose card (default: the user of --as)")
    view = show.add_mutually_exclusive_group()
    view.add_argument("--for", dest="for_user", metavar="USER", help="show the card as USER sees it")
    view.add_argument("--audience", help="show the card as an audience sees it (a circle, or user:NAME)")
    view.add_argument("--stored", action="store_true", help="print the me card as stored (to edit and replace it)")
    listing = group.command("list", "the cards shared with you, as you see them", card_list)
    listing.add_argument("--user", help="whose (default: the user of --as)")
    lookup = group.command("lookup", "look people up by name (FN, N, NICKNAME), as the directory does", card_lookup)
    lookup.add_argument("name")
    lookup.add_argument("--match", choices=MATCH_TYPES, default="contains")
    lookup.add_argument("--user", help="who is asking (default: the user of --as)")
    ask = group.command("ask-first", "whether changed cards wait for your answer", card_ask_first)
    ask.add_argument("setting", choices=("on", "off"))
    ask.add_argument("--from", dest="from_owner", metavar="OWNER", help="only for this person's card")
    ask.add_argument("--user", help="whose choice (default: the user of --as)")
    updates = group.command("updates", "changed cards waiting for your answer", card_updates)
    updates.add_argument("--user", help="whose (default: the user of --as)")
    for name, run, text in (("accept", card_accept, "take the new version of someone's card"),
                            ("decline", card_decline, "keep your version of someone's card")):
        answer = group.command(name, text, run)
        answer.add_argument("owner", help="whose card")
        answer.add_argument("--user", help="whose answer (default: the user of --as)")
