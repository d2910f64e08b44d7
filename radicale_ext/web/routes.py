"""The page's table of routes: each page module registers its handlers with :func:`page` (shown
with GET) and :func:`action` (a form's POST).  :class:`radicale_ext.web.app.WebPage` asks for a
live session (unless ``public``) and, for every POST, the form's CSRF token before a handler runs.

A handler gets a :class:`radicale_ext.web.context.PageContext` and returns a
:class:`radicale_ext.web.http.Response`; a core error it raises
(:class:`radicale_ext.base.errors.ExtError`) is shown with its status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import PageContext
    from .http import Response

Handler = Callable[["PageContext"], "Response"]


@dataclass(frozen=True)
class Route:
    method: str            # GET (HEAD too) or POST
    path: str              # below the prefix, e.g. "/calendars/delete"
    handler: Handler
    public: bool = False   # served without a session (the login form, the language switch)


ROUTES: dict[tuple[str, str], Route] = {}


def page(path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    """A page shown with GET (and HEAD)."""
    def register(handler: Handler) -> Handler:
        ROUTES[("GET", path)] = Route("GET", path, handler, public)
        return handler
    return register


def action(path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    """A form's POST: refused (403) without the session's CSRF token."""
    def register(handler: Handler) -> Handler:
        ROUTES[("POST", path)] = Route("POST", path, handler, public)
        return handler
    return register
