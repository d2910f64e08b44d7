"""Which privilege a refused request needed, and a sentence that says so (RFC 3744 section 7.1.1).

Radicale refuses a request its rights do not allow with a bare "Access to
the requested resource forbidden".  The application extension answers
instead with ``DAV:need-privileges``: the resources and the privileges
the request needs (RFC 3744 section 3 names them; section 7.1.1 the
answer), and a sentence for the person.

The privileges are the ones the method needs, named the same way whether
or not the resource exists, so that a refusal tells an outsider nothing
about what is there: a PUT needs ``DAV:write-content`` on the resource (a
new one strictly ``DAV:bind`` on its collection, but saying which would
tell whether the resource exists); a DELETE ``DAV:unbind`` on the
collection; a MOVE ``DAV:unbind`` on the source's collection and
``DAV:bind`` on the destination's (both, as in RFC 3744's own example:
Radicale does not say which of the two was missing); MKCOL and MKCALENDAR
``DAV:bind`` on the collection that would hold the new one; PROPPATCH
``DAV:write-properties``; a read ``DAV:read``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .names import shown

_READS = frozenset({"GET", "HEAD", "PROPFIND", "REPORT", "OPTIONS"})


@dataclass(frozen=True)
class Needed:
    """One resource (a path without the base prefix) and the privilege the request lacked on it."""

    path: str
    privilege: str   # the local name of a DAV: privilege, e.g. "write-content"


def parent(path: str) -> str:
    """``/carol/family~alice/dinner.ics`` -> ``/carol/family~alice/``; ``/alice/family/`` -> ``/alice/``."""
    parts = [p for p in path.split("/") if p]
    return "/" + "".join(p + "/" for p in parts[:-1])


def needed(method: str, path: str, destination: str | None = None) -> list[Needed]:
    """What ``method`` on ``path`` (and, for MOVE, ``destination``) needs."""
    if method == "PUT":
        return [Needed(path, "write-content")]
    if method == "DELETE":
        return [Needed(parent(path), "unbind")]
    if method == "MOVE":
        found = [Needed(parent(path), "unbind")]
        return found + [Needed(parent(destination), "bind")] if destination else found
    if method in ("MKCOL", "MKCALENDAR"):
        return [Needed(parent(path), "bind")]
    if method == "PROPPATCH":
        return [Needed(path, "write-properties")]
    if method in _READS:
        return [Needed(path, "read")]
    return [Needed(path, "write")]


def why(user: str, method: str, path: str) -> str:
    """The sentence of a refusal, in the person's words."""
    if method in _READS:
        return f"{user} may not read {shown(path)}: it is not theirs and nobody shared it with them (DAV:read)"
    parts = [p for p in path.split("/") if p]
    if method in ("MKCOL", "MKCALENDAR") and len(parts) > 2:
        return (f"{user} may not create {shown(path)}: a calendar or address book cannot hold another "
                f"collection; create new ones directly in your home, /{user}/ (DAV:bind)")
    if method in ("MKCOL", "MKCALENDAR") and parts and parts[0] != user:
        return (f"{user} may not create {shown(path)}: only {parts[0]} creates collections in /{parts[0]}/; "
                f"create yours in /{user}/ (DAV:bind)")
    privilege = needed(method, path)[0].privilege
    return (f"{user} may not change {shown(path)} (DAV:{privilege}): it is read-only for {user}, as a "
            f"calendar or address book shared with a subscriber is, or not shared with {user} at all; "
            "its owner can make them a collaborator")
