"""The table of request handlers that features add to Radicale's.

A feature module in radicale_ext/plugins/handlers/ registers a handler for an HTTP method with
``@route("GET")``; :class:`radicale_ext.plugins.app.Application` asks each
handler of the request's method, in order, before Radicale's own.  A
handler returns a response to answer the request, or ``None`` to pass.

Handlers get the authenticated user (``""`` when anonymous) and the path
without the base prefix, exactly as Radicale's ``do_*`` methods do.

Two more tables, for what a handler in front of Radicale's cannot do:

- ``@propfind_step``: completes Radicale's PROPFIND answer (the multistatus
  element, before it is written) with properties Radicale cannot render,
  e.g. CalendarServer's sharing properties.  The one place where a PROPFIND
  answer is post-processed.
- ``@after("PUT")``: runs after Radicale answered a write with success, with
  the request body, e.g. to invite an event's participants.

``DAV_FEATURES`` lists the capabilities features add to the ``DAV`` header.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from radicale import Application, types

from . import _request

# Handlers get our Application (radicale_ext.plugins.app), a radicale.Application:
# they use only what Radicale's has, so this module need not import ours.
Handler = Callable[[Application, types.WSGIEnviron, str, str, str, set, dict],
                   types.WSGIResponse | None]

ROUTES: dict[str, list[Handler]] = {}


def route(method: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.setdefault(method, []).append(handler)
        return handler
    return register


# (app, multistatus, authenticated user, base prefix): changes the answer in place
PropfindStep = Callable[[Application, ET.Element, str, str], None]
PROPFIND_STEPS: list[PropfindStep] = []

# (app, path, user, user groups, request body): after a write Radicale answered with success
AfterWrite = Callable[[Application, str, str, set, bytes | None], None]
AFTER_WRITE: dict[str, list[AfterWrite]] = {}

DAV_FEATURES: list[str] = []


def propfind_step(step: PropfindStep) -> PropfindStep:
    PROPFIND_STEPS.append(step)
    return step


def after(method: str) -> Callable[[AfterWrite], AfterWrite]:
    def register(step: AfterWrite) -> AfterWrite:
        AFTER_WRITE.setdefault(method, []).append(step)
        return step
    return register


def dispatch(app: Application, method: str, environ: types.WSGIEnviron, base_prefix: str, path: str,
             user: str, user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    # what the PROPFIND steps need later, when Radicale has replaced the user by a share's owner
    request_info["radicale_ext_user"], request_info["radicale_ext_base_prefix"] = user, base_prefix
    _request.set_reader(user)  # and the storage: whom a me card is shown to (plugins/me_card_views.py)
    for handler in ROUTES.get(method, ()):
        response = handler(app, environ, base_prefix, path, user, user_groups, request_info)
        if response is not None:
            return response
    return None
