"""Circles: the ones I manage (create, add and remove members, name and drop managers, delete) and
the ones I am in, read-only (issue 14, item 4).

Every change is the core's operation (:class:`radicale_ext.sharing.circles.CircleBook`) with the
person as its actor; the core refuses anyone who does not manage the circle (403) and every change
of members of a circle from the admin's groups file, whatever the form says.  The page shows only
the circles the person manages or is in (:meth:`CircleBook.visible_to`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...base.errors import ExtError
from ...base.model import Circle, CircleOrigin
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page

NAV_ENTRY = ("/circles", N_("Circles"))
DONE = {"created": N_("Created the circle “%(name)s”."),
        "added": N_("Added %(who)s to “%(name)s”."),
        "removed": N_("Removed %(who)s from “%(name)s”."),
        "manager-added": N_("%(who)s now manages “%(name)s”."),
        "manager-removed": N_("%(who)s no longer manages “%(name)s”."),
        "deleted": N_("Deleted the circle “%(name)s”.")}


def _listing(ctx: PageContext, status: int = 200, *, problem: ExtError | None = None,
             entered: dict[str, str] | None = None) -> Response:
    mine = ctx.web.site.circles.visible_to(ctx.user)
    done = ctx.request.arg("done")
    return ctx.render("circles.html", status, managed=[c for c in mine if ctx.user in c.managers],
                      member_of=[c for c in mine if ctx.user not in c.managers], problem=problem,
                      entered=entered or {}, done=DONE.get(done, ""), done_name=ctx.request.arg("name"),
                      done_who=ctx.request.arg("who"),
                      from_file=CircleOrigin.GROUPS_FILE)


def _answer(ctx: PageContext, change: Callable[[dict[str, str]], object], done: str, circle: str,
            who: str = "") -> Response:
    """Run ``change``; a refusal (403) is shown on its own page, any other problem with the form again."""
    form = ctx.request.form()
    try:
        change(form)
    except ExtError as e:
        if e.status == 403:
            raise
        return _listing(ctx, e.status, problem=e, entered=form)
    return ctx.redirect("/circles", done=done, name=circle, who=who)


def _people(text: str) -> list[str]:
    """User names typed into one field, separated by spaces or commas."""
    return [name for name in re.split(r"[\s,]+", text) if name]


@page("/circles")
def circles(ctx: PageContext) -> Response:
    return _listing(ctx)


@action("/circles/create")
def create(ctx: PageContext) -> Response:
    form = ctx.request.form()
    return _answer(ctx, lambda f: ctx.web.site.circles.create(f.get("name", "").strip(), [], actor=ctx.user),
                   "created", form.get("name", "").strip())


@action("/circles/members/add")
def add_members(ctx: PageContext) -> Response:
    form = ctx.request.form()

    def change(f: dict[str, str]) -> None:
        people = _people(f.get("users", ""))
        if not people:
            raise ExtError("type at least one user name")
        ctx.web.site.circles.add_members(f.get("circle", ""), people, actor=ctx.user)
    return _answer(ctx, change, "added", form.get("circle", ""), " ".join(_people(form.get("users", ""))))


@action("/circles/members/remove")
def remove_member(ctx: PageContext) -> Response:
    form = ctx.request.form()
    return _answer(ctx, lambda f: ctx.web.site.circles.remove_members(f.get("circle", ""), [f.get("user", "")],
                                                                      actor=ctx.user),
                   "removed", form.get("circle", ""), form.get("user", ""))


@action("/circles/managers/add")
def add_manager(ctx: PageContext) -> Response:
    form = ctx.request.form()
    return _answer(ctx, lambda f: ctx.web.site.circles.add_manager(f.get("circle", ""), f.get("user", ""),
                                                                   actor=ctx.user),
                   "manager-added", form.get("circle", ""), form.get("user", ""))


@action("/circles/managers/remove")
def remove_manager(ctx: PageContext) -> Response:
    form = ctx.request.form()
    return _answer(ctx, lambda f: ctx.web.site.circles.remove_manager(f.get("circle", ""), f.get("user", ""),
                                                                      actor=ctx.user),
                   "manager-removed", form.get("circle", ""), form.get("user", ""))


@page("/circles/delete")
def confirm_delete(ctx: PageContext) -> Response:
    circle: Circle = ctx.web.site.circles.changeable(ctx.request.arg("circle"), actor=ctx.user)
    return ctx.render("circle_delete.html", circle=circle)


@action("/circles/delete")
def delete(ctx: PageContext) -> Response:
    name = ctx.request.form().get("circle", "")
    ctx.web.site.circles.delete(name, actor=ctx.user)
    return ctx.redirect("/circles", done="deleted", name=name)
