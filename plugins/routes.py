"""The table of request handlers that features add to Radicale's.

A feature module in plugins/ registers a handler for an HTTP method with
``@route("GET")``; :class:`radicale_ext.plugins.app.Application` asks each
handler of the request's method, in order, before Radicale's own.  A
handler returns a response to answer the request, or ``None`` to pass.

Handlers get the authenticated user (``""`` when anonymous) and the path
without the base prefix, exactly as Radicale's ``do_*`` methods do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from radicale import types

if TYPE_CHECKING:
    from .app import Application

Handler = Callable[["Application", types.WSGIEnviron, str, str, str, set, dict],
                   types.WSGIResponse | None]

ROUTES: dict[str, list[Handler]] = {}


def route(method: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.setdefault(method, []).append(handler)
        return handler
    return register


def dispatch(app: Application, method: str, environ: types.WSGIEnviron, base_prefix: str, path: str,
             user: str, user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    for handler in ROUTES.get(method, ()):
        response = handler(app, environ, base_prefix, path, user, user_groups, request_info)
        if response is not None:
            return response
    return None
