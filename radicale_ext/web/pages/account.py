"""Logging in and out, and the language switch (docs/web.md, "Login and security" and "Languages").

The switch also sets the language of the person's notices when they are logged in; logging in
with the page in Chinese (switched before, or the browser's Accept-Language) sets it when they
chose none yet (:meth:`radicale_ext.notices.my_notices.MyNotices.set_language`)."""

from __future__ import annotations

from ...base.errors import ExtError
from ..context import LANGUAGE_COOKIE, SESSION_COOKIE, PageContext
from ..http import Cookie, Response, redirect
from ..i18n import DEFAULT, LANGUAGES
from ..login import TooManyFailures, WrongPassword
from ..routes import action, page

NAV_ENTRY = None
LANGUAGE_SECONDS = 365 * 24 * 3600


def _next(value: str) -> str:
    """Where to go after logging in: a path of the page only (never another site)."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    return value


@page("/login", public=True)
def login_form(ctx: PageContext) -> Response:
    if ctx.session is not None:
        return redirect(ctx.request.root + _next(ctx.request.arg("next", "/")))
    return ctx.render("login.html", next=_next(ctx.request.arg("next", "/")), login="", problem="")


@action("/login", public=True)
def log_in(ctx: PageContext) -> Response:
    form = ctx.request.form()
    login, going = form.get("user", ""), _next(form.get("next", "/"))
    try:
        user = ctx.web.login.log_in(login, form.get("password", ""), ctx.request.address)
    except TooManyFailures as e:
        answer = ctx.render("login.html", 429, next=going, login=login, problem="wait", seconds=e.seconds)
        return Response(answer.status, answer.body, answer.content_type,
                        {**answer.headers, "Retry-After": str(e.seconds)}, answer.cookie)
    except WrongPassword:
        return ctx.render("login.html", 403, next=going, login=login, problem="wrong")
    if ctx.speaker.language != DEFAULT:   # English is what notices speak without a choice
        ctx.web.my_notices.set_language(user, ctx.speaker.language, actor=user, unless_chosen=True)
    session_id, _session = ctx.web.sessions.start(user)
    return redirect(ctx.request.root + going, Cookie(SESSION_COOKIE, session_id))


@action("/logout")
def log_out(ctx: PageContext) -> Response:
    ctx.web.sessions.end(ctx.request.cookies.get(SESSION_COOKIE, ""))
    return ctx.redirect("/login", Cookie(SESSION_COOKIE, "", max_age=0), done="logged-out")


@action("/language", public=True)
def choose_language(ctx: PageContext) -> Response:
    form = ctx.request.form()
    language = form.get("language", "")
    back = _next(form.get("back", "/"))
    if language not in LANGUAGES:
        raise ExtError(f"no such language: {language!r}")
    if ctx.session is not None:
        ctx.web.my_notices.set_language(ctx.user, language, actor=ctx.user)
    return redirect(ctx.request.root + back, Cookie(LANGUAGE_COOKIE, language, LANGUAGE_SECONDS))
