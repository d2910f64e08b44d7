"""The page as one object the server's handler calls: :meth:`WebPage.handle` takes a
:class:`.http.Request` and gives a :class:`.http.Response`.

On every request, in this order: static files (``/static/``, no session);
the route (404, or 405 for a known path and another method); the session
(:mod:`.sessions`) and the language (:mod:`.i18n`); for a POST, the CSRF
token of the form (the session's, or before login the form cookie's: a
double submit), else 403 and nothing changes; a page that needs a session
and has none sends a GET to the login form and refuses a POST (403); then
the handler.  A core error the handler raises is shown with its status.

The page modules of ``pages/`` named in :data:`PAGES` register their routes
when imported; :data:`NAV` is the menu, in that order (docs/web.md, "How to
add a page").
"""

from __future__ import annotations

import hmac
import importlib
import os
import secrets
import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import urlencode

from ..base.database import Database
from ..base.errors import ExtError
from ..homes.home import CollectionWriter, Homes
from ..notices.my_notices import MyNotices
from ..notices.preferences import Preferences
from ..notices.settings import NoticeSettings
from ..reminders.my_reminders import MyReminders
from ..reminders.scheduler import ReminderChoices
from ..sharing.people_finder import PeopleFinder
from ..site import Site
from .context import FORM_COOKIE, LANGUAGE_COOKIE, LEADS, SESSION_COOKIE, PageContext
from .http import Cookie, Request, Response
from .i18n import N_, Speaker, chosen
from .login import LoginGuard, LoginRules, PasswordCheck
from .once import ShownOnce
from .routes import ROUTES
from .sessions import FILE_NAME, SessionBook, SessionRules

# modules of pages/, imported for their routes; each may name its entry of the menu (NAV_ENTRY)
PAGES: tuple[str, ...] = ("account", "calendars", "shares", "invitations", "circles", "links", "card", "notices",
                          "admin")
NAV: list[tuple[str, str]] = []   # (path, words) of the menu
for _name in PAGES:
    _module = importlib.import_module(f"{__package__}.pages.{_name}")
    if getattr(_module, "NAV_ENTRY", None):
        NAV.append(_module.NAV_ENTRY)

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png"}
FORM_COOKIE_SECONDS = 12 * 3600

CSRF_REFUSAL = N_("This form has expired or did not come from this page, so nothing was changed. "
                  "Reload the page and try again.")
LOGIN_FIRST = N_("Your session has ended, so nothing was changed. Log in and try again.")


def _static(name: str) -> Response:
    extension = os.path.splitext(name)[1]
    folder = resources.files(__package__).joinpath("static")
    if "/" in name or name.startswith(".") or extension not in STATIC_TYPES or not folder.joinpath(name).is_file():
        return Response(404, b"Not Found\n", "text/plain; charset=utf-8")
    return Response(200, folder.joinpath(name).read_bytes(), STATIC_TYPES[extension],
                    {"Cache-Control": "no-cache"})


class WebPage:
    def __init__(self, site: Site, *, check_password: PasswordCheck, writer: CollectionWriter,
                 session_rules: SessionRules | None = None, login_rules: LoginRules | None = None,
                 sessions_path: str | None = None, clock: Callable[[], float] | None = None,
                 notice_settings: NoticeSettings | None = None) -> None:
        self.site = site
        self.homes = Homes(collections=site.collections, user_exists=site.user_exists,
                           shares=site.shares, invitations=site.invitations, links=site.links, writer=writer)
        self.preferences = Preferences(site.db)
        self.finder = PeopleFinder(site.circles, site.users.users if site.users is not None else frozenset)
        self.notice_settings = notice_settings or NoticeSettings()   # the server's [hook] options
        self.my_notices = MyNotices(site, self.notice_settings)
        self.my_reminders = MyReminders(ReminderChoices(site.db), self.my_notices)
        path: str | Database = sessions_path or (
            site.db if site.db.engine == "postgresql"   # every host knows every session (docs/scale-out.md)
            else os.path.join(os.path.dirname(os.path.abspath(site.settings.database_path)), FILE_NAME))
        stamp = site.users.password_stamp if site.users is not None else (lambda _user: "")
        extra = {"clock": clock} if clock else {}
        page_db = path if isinstance(path, Database) else Database(path)
        self.sessions = SessionBook(page_db, user_exists=site.user_exists, password_stamp=stamp,
                                    rules=session_rules or SessionRules(), **extra)
        self.login = LoginGuard(check_password, login_rules or LoginRules())
        self.new_links = ShownOnce(page_db, **extra)   # a new link's address, until the page that shows it once
        self.nav = tuple(NAV)

    def is_admin(self, user: str) -> bool:
        """Whether the logged-in ``user`` is an admin (``[auth] admins``): the menu shows the admin page."""
        return bool(user) and self.site.accounts.is_admin(user)

    def handle(self, request: Request) -> Response:
        """The answer to ``request``, with the time the page took in a ``Server-Timing`` header
        (W3C Server Timing: ``page`` wall clock, ``cpu`` this thread's processor time, in ms)."""
        began, cpu = time.perf_counter(), time.thread_time()
        response = self._answer(request)
        response.headers["Server-Timing"] = (f"page;dur={(time.perf_counter() - began) * 1000:.1f}, "
                                             f"cpu;dur={(time.thread_time() - cpu) * 1000:.1f}")
        return response

    def _answer(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if method == "GET" and request.path.startswith("/static/"):
            return _static(request.path.removeprefix("/static/"))
        session = self.sessions.find(request.cookies.get(SESSION_COOKIE, ""))
        language = chosen(request.cookies.get(LANGUAGE_COOKIE, ""), request.accept_language)
        zone = self.preferences.contact(session.user).timezone if session else None
        page = PageContext(request, self, Speaker(language, zone), session)
        route = ROUTES.get((method, request.path))
        if route is None:
            allowed = sorted({m for m, p in ROUTES if p == request.path})
            if allowed:
                allow = ", ".join(["GET, HEAD" if m == "GET" else m for m in allowed])
                return Response(405, b"Method Not Allowed\n", "text/plain; charset=utf-8", {"Allow": allow})
            return page.render("problem.html", 404, lead=LEADS[404], detail="")
        self._form_token(page)
        if method == "POST":
            try:
                given = request.form().get("csrf", "")
            except ExtError as e:
                return page.render("problem.html", e.status, lead=LEADS.get(e.status, LEADS[400]), detail=str(e))
            expected = session.csrf if session else request.cookies.get(FORM_COOKIE, "")
            if not (expected and given and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))):
                return page.render("problem.html", 403, lead=CSRF_REFUSAL, detail="")
        if not route.public and session is None:
            if method == "GET":
                target = request.path + (f"?{_query(request)}" if request.query else "")
                return page.redirect("/login", next=target)
            return page.render("problem.html", 403, lead=LOGIN_FIRST, detail="")
        try:
            return route.handler(page)
        except ExtError as e:
            return page.render("problem.html", e.status, lead=LEADS.get(e.status, LEADS[400]), detail=str(e))

    def _form_token(self, page: PageContext) -> None:
        """The token the page's forms carry: the session's; before login, the form cookie's (made now
        when the browser has none)."""
        if page.session is not None:
            page.form_token = page.session.csrf
            return
        token = page.request.cookies.get(FORM_COOKIE, "")
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
            page.set_cookie = Cookie(FORM_COOKIE, token, FORM_COOKIE_SECONDS)
        page.form_token = token


def _query(request: Request) -> str:
    return urlencode([(k, v) for k, values in request.query.items() for v in values])
