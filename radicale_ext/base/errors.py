"""One exception hierarchy for the core.

Each error carries the HTTP status a request should get and, where an RFC
names one, the WebDAV precondition element (``DAV:error`` child).  The plugins
translate these once, at the seam; the CLI prints ``str(error)`` and exits
non-zero.
"""

from __future__ import annotations


class ExtError(Exception):
    """Base class: a problem a person can read and act on."""

    status: int = 400
    precondition: str | None = None

    def __init__(self, message: str, *, precondition: str | None = None) -> None:
        super().__init__(message)
        if precondition is not None:
            self.precondition = precondition


class InvalidName(ExtError):
    """A user, circle or collection name that cannot be stored safely."""


class NotFound(ExtError):
    status = 404


class Forbidden(ExtError):
    status = 403
    precondition = "D:need-privileges"


class Conflict(ExtError):
    status = 409


class DatabaseUnavailable(ExtError):
    """The sharing database is missing, locked or corrupt.

    Raised at start-up so that the server never runs with a silently empty
    share list.
    """

    status = 503
