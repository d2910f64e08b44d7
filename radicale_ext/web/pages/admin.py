"""Admin: accounts and circles, for the users named in ``[auth] admins`` (issue 14, item 8).

Add a user, set a user's password, remove a user (after a confirmation page), and see every circle:
those of the admin's groups file (read-only: the admin edits the file) and those of the database
(their managers change them on their own pages).  Every page and action asks the core
(:class:`radicale_ext.base.users.Accounts`), which refuses anyone not named in ``[auth] admins``
(403); the command line's ``radicale-ext user ...`` calls the same operations.

The password of a new user, or a new password, is the one the admin types (twice, as the command
line asks): there is no page where people change their own, so a password made up by the server
would stay theirs for good.  Setting a password or removing a user ends that user's sessions at
once (their next request finds the stored password changed or the user gone, and the rows go now).
"""

from __future__ import annotations

from ...base import names
from ...base.errors import ExtError, NotFound
from ...base.model import CircleOrigin
from ..context import PageContext
from ..http import Response
from ..routes import action, page

NAV_ENTRY = None   # the menu shows "Admin" to admins only (base.html)


def _passwords(form: dict[str, str]) -> str:
    password = form.get("password", "")
    if password != form.get("again", ""):
        raise ExtError("the two passwords differ; nothing changed")
    return password


def _listing(ctx: PageContext, status: int = 200, *, problem: ExtError | None = None,
             entered: dict[str, str] | None = None, changing: str = "") -> Response:
    accounts = ctx.web.site.accounts
    users = accounts.users(actor=ctx.user)
    circles = accounts.circles(actor=ctx.user)
    return ctx.render("admin.html", status, users=users, admins=accounts.admins,
                      file_circles=[c for c in circles if c.origin is CircleOrigin.GROUPS_FILE],
                      database_circles=[c for c in circles if c.origin is CircleOrigin.DATABASE],
                      problem=problem, entered=entered or {}, changing=changing, done=ctx.request.arg("done"),
                      done_name=ctx.request.arg("name"), still=ctx.request.arg("still"))


def _again(ctx: PageContext, e: ExtError, form: dict[str, str], changing: str = "") -> Response:
    if e.status in (403, 404):
        raise e
    return _listing(ctx, e.status, problem=e, entered={"name": form.get("name", "")}, changing=changing)


@page("/admin")
def admin(ctx: PageContext) -> Response:
    return _listing(ctx)


@action("/admin/users/add")
def add(ctx: PageContext) -> Response:
    form = ctx.request.form()
    name = form.get("name", "").strip()
    try:
        ctx.web.site.accounts.require_admin(ctx.user)
        ctx.web.site.accounts.add(name, _passwords(form), actor=ctx.user)
    except ExtError as e:
        return _again(ctx, e, form)
    return ctx.redirect("/admin", done="added", name=name)


@action("/admin/users/password")
def password(ctx: PageContext) -> Response:
    form = ctx.request.form()
    user = form.get("user", "")
    try:
        ctx.web.site.accounts.require_admin(ctx.user)
        ctx.web.site.accounts.set_password(user, _passwords(form), actor=ctx.user)
    except ExtError as e:
        return _again(ctx, e, form, changing=user)
    ctx.web.sessions.end_all_of(user)
    return ctx.redirect("/admin", done="password", name=user)


@page("/admin/users/remove")
def confirm_remove(ctx: PageContext) -> Response:
    accounts = ctx.web.site.accounts
    user = ctx.request.arg("user")
    if user not in accounts.users(actor=ctx.user):
        raise NotFound(f"no user named {names.shown(user)}")
    return ctx.render("admin_remove.html", person=user, admin=user in accounts.admins,
                      circles=[c for c in accounts.circles(actor=ctx.user) if user in c.members or user in c.managers])


@action("/admin/users/remove")
def remove(ctx: PageContext) -> Response:
    user = ctx.request.form().get("user", "")
    still = ctx.web.site.accounts.remove(user, actor=ctx.user)
    ctx.web.sessions.end_all_of(user)
    return ctx.redirect("/admin", done="removed", name=user, **({"still": ", ".join(sorted(still))} if still else {}))
