"""Share links: make one to a calendar, an event, an address book or a card, see its address and QR
code once, list and revoke them (issue 14, item 5; docs/links.md, docs/web.md "Links").

Every step is the core's (:class:`radicale_ext.links.share_links.LinkBook`, and for a me card
:meth:`radicale_ext.cards.me_cards.CardBook.link_audience`), with the person as the actor, the
same calls and in the same order as ``radicale-ext link create``: who may make a link (the owner,
or a collaborator the owner allows) is asked first, before anything says whether a collection or
an item exists.

The server keeps only a hash of a link's secret, so its address is shown once: the form's POST
makes the link and hands the address to :class:`radicale_ext.web.once.ShownOnce`; the page it
leads to (``/links/made``) takes it from there and shows it with its QR code, once; the list
shows each link's id, target, kind, expiry and last use, never an address.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...base import names
from ...base.errors import ExtError, Forbidden
from ...links import qr
from ...links.share_links import Link, LinkableItem, LinkKind, LinkState, LinkView, NewLink, parse_expiry
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page

NAV_ENTRY = ("/links", N_("Share links"))
KINDS = {LinkKind.CALENDAR: N_("calendar"), LinkKind.EVENT: N_("event"),
         LinkKind.ADDRESS_BOOK: N_("address book"), LinkKind.CARD: N_("card")}
VIEWS = {LinkView.FULL: N_("everything"), LinkView.FREE_BUSY: N_("free/busy only")}
STATES = {LinkState.ACTIVE: N_("works"), LinkState.EXPIRED: N_("expired"), LinkState.REVOKED: N_("revoked")}
# how long a new link works, as the core reads it (parse_expiry); "" never ends
EXPIRIES = (("", N_("until I revoke it")), ("1d", N_("one day")), ("7d", N_("one week")),
            ("30d", N_("30 days")), ("365d", N_("one year")))
DONE = {"revoked": N_("Link %(name)s is revoked: its address no longer works."),
        "collaborators-on": N_("Collaborators of “%(name)s” may now make links to it."),
        "collaborators-off": N_("Collaborators of “%(name)s” may no longer make links to it.")}
QR_PNG_SCALE = 8


@dataclass(frozen=True)
class Linkable:
    """A calendar or address book the person may make links to."""

    path: str                  # "/alice/家庭/"
    shown_as: str
    calendar: bool
    owner: str


@dataclass(frozen=True)
class Row:
    """One link in the list."""

    link: Link
    collection: str            # the collection's name as people read it
    item: str                  # the event's or card's name, "" for a whole collection
    state: LinkState
    may_revoke: bool


def _linkable(ctx: PageContext) -> list[Linkable]:
    site = ctx.web.site
    own = [Linkable(c.path, c.display_name or c.name, c.tag == "VCALENDAR", ctx.user)
           for c in ctx.web.homes.to_choose_from(ctx.user, actor=ctx.user)]
    shared = []
    for grant in site.links.shared_linkable(ctx.user):
        tag = site.collection_tag(grant.collection)
        if tag is None:
            continue
        shown = grant.properties.get("D:displayname") or site.display_name(grant.collection) or grant.mount
        shared.append(Linkable(grant.collection, shown, tag == "VCALENDAR", grant.owner))
    return own + sorted(shared, key=lambda c: (c.shown_as.casefold(), c.path))


def _item_name(item: LinkableItem | None, href: str | None) -> str:
    if item is None:
        return href or ""
    return item.name or item.href


def _rows(ctx: PageContext) -> list[Row]:
    site = ctx.web.site
    links = site.links
    now = links.clock()
    names_of: dict[str, str] = {}
    rows = []
    for link in links.links_by(ctx.user):
        target = link.target
        if target.collection not in names_of:
            names_of[target.collection] = site.display_name(target.collection) or str(target).split("/")[1]
        item = _item_name(links.item_of(target), target.item) if target.item else ""
        rows.append(Row(link, names_of[target.collection], item, link.state(now), links.may_manage(link, ctx.user)))
    return rows


@page("/links")
def listing(ctx: PageContext) -> Response:
    rows = _rows(ctx)
    done = ctx.request.arg("done")
    return ctx.render("links.html", linkable=_linkable(ctx), active=[r for r in rows if r.state is LinkState.ACTIVE],
                      ended=[r for r in rows if r.state is not LinkState.ACTIVE], kinds=KINDS, views=VIEWS,
                      states=STATES, writable=[r for r in rows if r.state is LinkState.ACTIVE and r.link.writable],
                      done=DONE.get(done, ""), done_name=ctx.request.arg("name"))


def _new_form(ctx: PageContext, collection: str, status: int = 200, *, problem: ExtError | None = None,
              entered: dict[str, str] | None = None) -> Response:
    site = ctx.web.site
    items = site.links.items(collection, actor=ctx.user)   # Forbidden unless they may make links to it
    owner, path = names.collection_path(collection)
    calendar = site.collection_tag(path) == "VCALENDAR"
    me = site.cards.me_card(owner) if owner == ctx.user and not calendar else None
    me_href = me.href if me is not None and me.collection == path else None
    audiences = [str(a.grantee) for a in site.cards.audiences(owner)] if me_href else []
    done = ctx.request.arg("done")
    return ctx.render("link_new.html", status, path=path, owner=owner, mine=owner == ctx.user, calendar=calendar,
                      shown_as=site.display_name(path) or path.strip("/").split("/")[1], items=items,
                      me_href=me_href, audiences=audiences, expiries=EXPIRIES, problem=problem,
                      entered=entered or {}, collaborators_may=site.links.collaborators_may_link(path),
                      done=DONE.get(done, ""), done_name=ctx.request.arg("name"))


@page("/links/new")
def new_link(ctx: PageContext) -> Response:
    return _new_form(ctx, ctx.request.arg("collection"))


def _zone(ctx: PageContext) -> dt.tzinfo | None:
    """The person's time zone (for an expiry date they typed), else the server's."""
    try:
        return ZoneInfo(ctx.speaker.zone) if ctx.speaker.zone else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@action("/links/create")
def create(ctx: PageContext) -> Response:
    form = ctx.request.form()
    collection = form.get("collection", "")
    site = ctx.web.site
    links = site.links
    try:
        links.require_may_create(collection, ctx.user)           # before saying whether anything exists
        target = links.target(collection, item=form.get("item") or None)
        try:
            view = LinkView(form.get("view") or LinkView.FULL.value)
        except ValueError:
            raise ExtError("choose everything or free/busy only") from None
        expiry = form.get("expires_on", "").strip() or form.get("expires", "").strip()
        expires_at = parse_expiry(expiry, links.clock(), _zone(ctx)) if expiry else None
        audience = site.cards.link_audience(target.owner, target.collection,
                                            target.item if target.kind is LinkKind.CARD else None,
                                            form.get("audience") or None, actor=ctx.user)
        new = links.create(target, view=view, label=form.get("label", ""), expires_at=expires_at, actor=ctx.user,
                           audience=audience)
    except ExtError as e:
        if isinstance(e, Forbidden):
            raise
        return _new_form(ctx, collection, e.status, problem=e, entered=form)
    assert ctx.session is not None
    ctx.web.new_links.keep(ctx.session_id, new.link.id, new.token)
    return ctx.redirect("/links/made", link=new.link.id)


@page("/links/made")
def made(ctx: PageContext) -> Response:
    """The new link's address and QR code, shown once (the first time this page is asked for)."""
    site = ctx.web.site
    link = site.links.get(ctx.request.arg("link"))
    if not site.links.may_manage(link, ctx.user):
        raise Forbidden(f"only {link.target.owner!r} (the owner) or the link's maker may see link {link.id}")
    assert ctx.session is not None
    token = ctx.web.new_links.take(ctx.session_id, link.id)
    shown = {}
    if token is not None and link.state(site.links.clock()) is LinkState.ACTIVE:
        new = NewLink(link, token)
        address = new.url(ctx.request.links_base_url)
        png = qr.image(address, qr.ImageKind.PNG, scale=QR_PNG_SCALE)
        shown = {"address": address, "webcal": new.webcal_url(ctx.request.links_base_url),
                 "drawing": qr.drawing(address),
                 "png": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}
    note = site.cards.left_out_of_links(link.target.owner, link.target.collection) \
        if link.target.kind is LinkKind.ADDRESS_BOOK else None
    item = _item_name(site.links.item_of(link.target), link.target.item) if link.target.item else ""
    return ctx.render("link_made.html", link=link, item=item, kinds=KINDS, views=VIEWS, note=note,
                      collection=site.display_name(link.target.collection) or str(link.target).split("/")[1],
                      **shown)


@action("/links/revoke")
def revoke(ctx: PageContext) -> Response:
    link = ctx.web.site.links.revoke(ctx.request.form().get("link", ""), actor=ctx.user)
    return ctx.redirect("/links", done="revoked", name=link.id)


@action("/links/collaborators")
def collaborators(ctx: PageContext) -> Response:
    form = ctx.request.form()
    collection = form.get("collection", "")
    allowed = form.get("allowed") == "on"
    ctx.web.site.links.allow_collaborators(collection, allowed, actor=ctx.user)
    _owner, path = names.collection_path(collection)
    shown_as = ctx.web.site.display_name(path) or path.strip("/").split("/")[1]
    return ctx.redirect("/links/new", collection=path, done="collaborators-on" if allowed else "collaborators-off",
                        name=shown_as)
