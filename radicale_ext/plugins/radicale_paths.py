"""Radicale's path sanitizing, remembered.

``radicale.pathutils.sanitize_path`` turns a request's path into a safe absolute one; its answer depends on
the string alone.  Radicale asks it about eighty times for one PUT, most of them in assertions that a path
it already sanitized is still sane (``strip_path``, ``unstrip_path``, ``make_href``, the items' hrefs), at
some microseconds each: close to a millisecond of every write.  :func:`install` puts a bounded cache in
front of it (the latest few thousand paths), so a path is worked out once; the answers are Radicale's own.
"""

from __future__ import annotations

import functools

from radicale import pathutils

#: Radicale's own function, kept for the tests' comparison
radicales_sanitize_path = pathutils.sanitize_path
sanitize_path = functools.lru_cache(maxsize=4096)(radicales_sanitize_path)


def install() -> None:
    """Radicale's modules call ``pathutils.sanitize_path`` through the module (``pathutils`` itself by its
    global name), so replacing the module's attribute reaches every caller."""
    pathutils.sanitize_path = sanitize_path
