"""Share a calendar or address book (issue 14, item 2), reached from "My calendars and address books".

The owner finds people and circles by name (:class:`radicale_ext.sharing.people_finder.PeopleFinder`:
names only; a search form, and a typeahead in ``static/shares.js`` that asks ``/shares/find``), shares
as subscriber or collaborator, by invitation or at once (where the core allows it:
:meth:`~radicale_ext.sharing.shares.ShareBook.may_share_at_once`), sees every person the shares reach
and where each stands, direct or through which circle, changes a role, stops sharing, and sets who
may subscribe (the subscription scope) and sees who did.  An address book that keeps the owner's me
card says what each person sees of it (:meth:`radicale_ext.cards.me_cards.CardBook.share_exposure`).

Every step is the core's operation with the person as its actor (the same the command line calls):
the collection is looked up as the owner's first (:meth:`radicale_ext.homes.home.Homes.collection`),
so someone else's, or one that does not exist, is refused with 403 whatever the form or URL says.
"""

from __future__ import annotations

import json

from ...base import names
from ...base.errors import ExtError
from ...base.model import Grantee, GranteeKind, Role, ShareBasis
from ...cards.projection import EVERYTHING, fields_text
from ...homes.home import OwnCollection
from ...sharing.invitations import Standing
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page
from .calendars import ROLES, STANDING

NAV_ENTRY = None   # reached from each calendar or address book of "My calendars and address books"
HOW = {"invitation": ShareBasis.INVITATION, "at-once": ShareBasis.AT_ONCE}
DONE = {"shared": N_("Shared with %(who)s."), "role": N_("%(who)s has a new role."),
        "removed": N_("No longer shared with %(who)s."),
        "scope-added": N_("%(who)s may now subscribe."), "scope-removed": N_("%(who)s may no longer subscribe.")}
CIRCLE = N_("circle “%(name)s”")


def who_value(grantee: Grantee) -> str:
    """How a form names a person or a circle: ``user:bob``, ``circle:family``."""
    return f"{grantee.kind.value}:{grantee.name}"


def grantee_of(value: str) -> Grantee:
    kind, _, name = value.partition(":")
    if kind == GranteeKind.USER.value:
        return Grantee(GranteeKind.USER, names.user_name(name))
    if kind == GranteeKind.CIRCLE.value:
        return Grantee(GranteeKind.CIRCLE, names.circle_name(name))
    raise ExtError("choose a person or a circle (search for their name first)")


def who_words(ctx: PageContext, grantee: Grantee) -> str:
    """A person by their name, a circle as "circle “family”", in the person's language."""
    return ctx._(CIRCLE) % {"name": grantee.name} if grantee.kind is GranteeKind.CIRCLE else grantee.name


def _option(ctx: PageContext, grantee: Grantee) -> dict[str, object]:
    """A person or circle as the forms and the typeahead offer it."""
    return {"who": who_value(grantee), "name": grantee.name, "circle": grantee.kind is GranteeKind.CIRCLE,
            "words": who_words(ctx, grantee), "at_once": ctx.web.site.shares.may_share_at_once(grantee, ctx.user)}


def _found(ctx: PageContext, query: str, chosen: str = "") -> list[dict[str, object]]:
    """The people and circles found for ``query``, and the one chosen before (a form shown again)."""
    options = [_option(ctx, g) for g in ctx.web.finder.find(query, actor=ctx.user)] if query else []
    try:
        grantee = grantee_of(chosen) if chosen else None
    except ExtError:
        grantee = None
    if grantee is not None and who_value(grantee) not in [o["who"] for o in options]:
        options.insert(0, _option(ctx, grantee))
    return options


def _exposure(ctx: PageContext, found: OwnCollection) -> dict[str, object] | None:
    """What each person the shares reach sees of my me card, when this address book keeps it."""
    site = ctx.web.site
    me = site.cards.me_card_in(found.path)
    if me is None:
        return None
    exposure = site.cards.share_exposure(found.path, [p.user for p in found.people], site.circles.circles_of)
    seen = [(person, "all" if fields == EVERYTHING else fields_text(fields) if fields else "")
            for person, fields in (exposure.seen if exposure else ())]
    return {"card": me.href, "seen": seen}


def _share_page(ctx: PageContext, path: str, status: int = 200, *, problem: ExtError | None = None,
                entered: dict[str, str] | None = None) -> Response:
    site = ctx.web.site
    found = ctx.web.homes.collection(path, actor=ctx.user)
    shares = site.shares.listed(found.path, actor=ctx.user)
    scope = site.scopes.members(found.path, actor=ctx.user)
    query, scope_query = ctx.request.arg("q").strip(), ctx.request.arg("sq").strip()
    entered = entered or {}
    results: list[dict[str, object]] = []
    scope_results: list[dict[str, object]] = []
    try:
        results = _found(ctx, query, entered.get("who", "") if entered.get("form") == "share" else "")
        scope_results = _found(ctx, scope_query, entered.get("who", "") if entered.get("form") == "scope" else "")
    except ExtError as e:
        problem, status = e, e.status
    done, done_who = ctx.request.arg("done"), None
    if done in DONE:
        try:
            done_who = grantee_of(ctx.request.arg("who"))
        except ExtError:
            done = ""
    subscribers = [p for p in found.people if p.standing in (Standing.SUBSCRIBED, Standing.OUT_OF_SCOPE)]
    return ctx.render("shares.html", status, collection=found, shares=shares, people=found.people, scope=scope,
                      subscribers=subscribers, query=query, results=results, scope_query=scope_query,
                      scope_results=scope_results, problem=problem, entered=entered,
                      done=DONE.get(done), done_who=done_who, roles=ROLES, standing=STANDING,
                      exposure=_exposure(ctx, found), who_value=who_value, who=lambda g: who_words(ctx, g))


def _owned(ctx: PageContext) -> tuple[dict[str, str], OwnCollection]:
    """The posted form and the collection it names, which must be the person's own (403 otherwise)."""
    form = ctx.request.form()
    return form, ctx.web.homes.collection(form.get("collection", ""), actor=ctx.user)


def _back(ctx: PageContext, found: OwnCollection, done: str, grantee: Grantee) -> Response:
    return ctx.redirect("/shares", collection=found.path, done=done, who=who_value(grantee))


@page("/shares")
def share_page(ctx: PageContext) -> Response:
    return _share_page(ctx, ctx.request.arg("collection"))


@page("/shares/find")
def find(ctx: PageContext) -> Response:
    """The typeahead's question: people and circles whose name contains ``q`` (JSON, names only)."""
    body = json.dumps({"found": _found(ctx, ctx.request.arg("q"))}, ensure_ascii=False).encode("utf-8")
    return Response(200, body, "application/json; charset=utf-8")


@action("/shares/add")
def add(ctx: PageContext) -> Response:
    form, found = _owned(ctx)
    try:
        grantee = grantee_of(form.get("who", ""))
        role = Role.parse(form.get("role", ""))
        basis = HOW.get(form.get("how", ""))
        if basis is None:
            raise ExtError("choose by invitation or at once")
        ctx.web.site.shares.add(found.path, grantee, role, actor=ctx.user, basis=basis,
                                summary=form.get("summary", ""))
    except (ExtError, ValueError) as e:
        problem = e if isinstance(e, ExtError) else ExtError(str(e))
        return _share_page(ctx, found.path, problem.status, problem=problem, entered=form)
    return _back(ctx, found, "shared", grantee)


@action("/shares/role")
def change_role(ctx: PageContext) -> Response:
    form, found = _owned(ctx)
    grantee = grantee_of(form.get("who", ""))
    try:
        role = Role.parse(form.get("role", ""))
    except ValueError as e:
        raise ExtError(str(e)) from None
    ctx.web.site.invitations.change_role(found.path, grantee, role, actor=ctx.user)
    return _back(ctx, found, "role", grantee)


@action("/shares/remove")
def remove(ctx: PageContext) -> Response:
    form, found = _owned(ctx)
    grantee = grantee_of(form.get("who", ""))
    ctx.web.site.invitations.withdraw(found.path, grantee, actor=ctx.user)
    return _back(ctx, found, "removed", grantee)


@action("/shares/scope/add")
def scope_add(ctx: PageContext) -> Response:
    form, found = _owned(ctx)
    try:
        grantee = grantee_of(form.get("who", ""))
        ctx.web.site.scopes.add(found.path, grantee, actor=ctx.user)
    except ExtError as e:
        return _share_page(ctx, found.path, e.status, problem=e, entered=form)
    return _back(ctx, found, "scope-added", grantee)


@action("/shares/scope/remove")
def scope_remove(ctx: PageContext) -> Response:
    form, found = _owned(ctx)
    grantee = grantee_of(form.get("who", ""))
    ctx.web.site.scopes.remove(found.path, grantee, actor=ctx.user)
    return _back(ctx, found, "scope-removed", grantee)
