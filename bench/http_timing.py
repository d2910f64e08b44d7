"""Timing one HTTP request, checking its status so a broken server fails the run."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests


def expect(response: requests.Response, *codes: int) -> requests.Response:
    if response.status_code not in codes:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} "
                           f"(expected {codes}):\n{response.text[:500]}")
    return response


def timed(call: Callable[[], requests.Response], *codes: int) -> float:
    """Seconds the request took (client side), after checking its status."""
    start = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - start
    expect(response, *codes)
    return elapsed
