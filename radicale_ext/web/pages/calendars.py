"""My calendars and address books: list, create, rename, recolour, delete (issue 14, item 1).

Every change is the core's operation (:class:`radicale_ext.homes.home.Homes`) with the person as
its actor; the core refuses someone else's home (403), whatever the form says.
"""

from __future__ import annotations

from ...base.errors import ExtError
from ...homes.home import OwnCollection
from ...homes.properties import Kind
from ...sharing.invitations import Standing
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page

NAV_ENTRY = ("/", N_("Calendars and address books"))
DEFAULT_COLOUR = "#3a86ff"
KINDS = {"calendar": Kind.CALENDAR, "address-book": Kind.ADDRESS_BOOK}
STANDING = {Standing.AT_ONCE: N_("shared at once"), Standing.ACCEPTED: N_("accepted"),
            Standing.SUBSCRIBED: N_("subscribed"), Standing.PENDING: N_("invited, no answer yet"),
            Standing.DECLINED: N_("declined"), Standing.REMOVED: N_("removed it from their home"),
            Standing.OUT_OF_SCOPE: N_("subscribed, out of scope")}
ROLES = {"subscriber": N_("subscriber (reads)"), "collaborator": N_("collaborator (reads and writes)")}


def _listing(ctx: PageContext, status: int = 200, *, problem: ExtError | None = None,
             entered: dict[str, str] | None = None, changing: str = "") -> Response:
    mine = ctx.web.homes.collections(ctx.user, actor=ctx.user)
    return ctx.render("calendars.html", status, collections=mine, problem=problem, entered=entered or {},
                      changing=changing, done=ctx.request.arg("done"), done_name=ctx.request.arg("name"),
                      default_colour=DEFAULT_COLOUR)


@page("/")
def calendars(ctx: PageContext) -> Response:
    return _listing(ctx)


@action("/calendars/create")
def create(ctx: PageContext) -> Response:
    form = ctx.request.form()
    try:
        kind = KINDS.get(form.get("kind", ""))
        if kind is None:
            raise ExtError("choose a calendar or an address book")
        made = ctx.web.homes.create(ctx.user, kind=kind, display_name=form.get("name", ""),
                                    colour=form.get("colour") or None, actor=ctx.user)
    except ExtError as e:
        return _listing(ctx, e.status, problem=e, entered=form)
    return ctx.redirect("/", done="created", name=made.shown_as)


@action("/calendars/change")
def change(ctx: PageContext) -> Response:
    form = ctx.request.form()
    path = form.get("collection", "")
    try:
        changed = ctx.web.homes.change(path, display_name=form.get("name") or None,
                                       colour=form.get("colour") or None, actor=ctx.user)
    except ExtError as e:
        if e.status in (403, 404):
            raise
        return _listing(ctx, e.status, problem=e, entered=form, changing=path)
    return ctx.redirect("/", done="changed", name=changed.shown_as)


@page("/calendars/delete")
def confirm_delete(ctx: PageContext) -> Response:
    found: OwnCollection = ctx.web.homes.collection(ctx.request.arg("collection"), actor=ctx.user)
    return ctx.render("calendar_delete.html", collection=found, standing=STANDING, roles=ROLES,
                      losing=found.reaching, invited=[p for p in found.people if not p.standing.has_access])


@action("/calendars/delete")
def delete(ctx: PageContext) -> Response:
    done = ctx.web.homes.delete(ctx.request.form().get("collection", ""), actor=ctx.user)
    return ctx.redirect("/", done="deleted", name=done.collection.shown_as)
