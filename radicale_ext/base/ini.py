"""Reading Radicale's INI config file from the command line (without Radicale)."""

from __future__ import annotations

import configparser

from .errors import ExtError


def read(path: str) -> configparser.RawConfigParser:
    """The parsed file; a missing or malformed file is one clear ExtError."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as e:
        raise ExtError(f"cannot read config file {path!r}: {e.strerror}") from e
    except configparser.Error as e:
        raise ExtError(f"config file {path!r} is not valid: {e}") from e
    return parser
