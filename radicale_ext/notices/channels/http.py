"""One HTTP POST with a timeout, for webhooks and push services (standard library only)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body``; returns the answer, whatever its status.  Raises ``OSError`` when none came."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read(4096))
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, e.read(4096) if e.fp else b"")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A receiver's redirect is an answer, not an order: a POST is never sent somewhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def retry_helps(status: int) -> bool:
    """Whether a failed POST may succeed later (RFC 9110: timeouts, overload, server errors)."""
    return status in (408, 425, 429) or status >= 500
