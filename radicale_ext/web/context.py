"""What a page's handler gets: the request, the person, their language, and the server's objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..homes.home import Homes
from ..notices.my_notices import MyNotices
from ..notices.settings import NoticeSettings
from ..reminders.my_reminders import MyReminders
from ..sharing.people_finder import PeopleFinder
from ..site import Site
from . import templates
from .http import PREFIX, Cookie, Request, Response, redirect
from .i18n import LANGUAGES, N_, Speaker
from .login import LoginGuard
from .once import ShownOnce
from .sessions import Session, SessionBook


class Services(Protocol):
    """What the page's handlers use of :class:`radicale_ext.web.app.WebPage`."""

    site: Site
    homes: Homes
    finder: PeopleFinder
    sessions: SessionBook
    login: LoginGuard
    new_links: ShownOnce
    nav: tuple[tuple[str, str], ...]
    notice_settings: NoticeSettings
    my_notices: MyNotices
    my_reminders: MyReminders

    def is_admin(self, user: str) -> bool: ...

# the page's own cookies (docs/web.md)
SESSION_COOKIE = "radicale_ext_session"
FORM_COOKIE = "radicale_ext_form"        # the CSRF token of forms shown before login (double submit)
LANGUAGE_COOKIE = "radicale_ext_language"

# the first sentence of a refusal, by status, in the person's language; the core's own follows it
LEADS = {400: N_("This could not be done; please check what you entered."),
         403: N_("This is not allowed."),
         404: N_("This does not exist (any more)."),
         409: N_("This already exists, or it changed meanwhile."),
         413: N_("This form is too large."),
         429: N_("Too many tries.")}


@dataclass
class PageContext:
    request: Request
    web: Services
    speaker: Speaker
    session: Session | None = None
    form_token: str = ""                  # the CSRF token forms carry: the session's, or the login form's
    set_cookie: Cookie | None = None      # a cookie the page sets as it is shown (the login form's token)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> str:
        """The logged-in person ("" before login)."""
        return self.session.user if self.session else ""

    @property
    def session_id(self) -> str:
        """The id of the session the browser holds (its cookie; the server keeps only a digest), "" without one."""
        return self.request.cookies.get(SESSION_COOKIE, "") if self.session else ""

    def _(self, message: str) -> str:
        return self.speaker.gettext(message)

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        """The page ``template`` (in templates/) with ``values``, in the person's language."""
        common = {"request": self.request, "user": self.user, "csrf": self.form_token, "languages": LANGUAGES,
                  "url": self.request.url, "here": self.request.path, "web": self.web,
                  "collection_manager": self.request.root.removesuffix(PREFIX) + "/.web/", "leads": LEADS}
        body = templates.render(template, self.speaker, {**common, **values})
        return Response(status, body, headers={"Content-Language": self.speaker.html_lang}, cookie=self.set_cookie)

    def redirect(self, path: str = "/", cookie: Cookie | None = None, **query: str) -> Response:
        return redirect(self.request.url(path, **query), cookie)
