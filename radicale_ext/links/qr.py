"""QR codes of link addresses, with segno (ISO/IEC 18004), as SVG, PNG, terminal text, or the
drawing a page puts inline in its own ``<svg>`` (:func:`drawing`)."""

from __future__ import annotations

import enum
import io
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from ..base.errors import ExtError

if TYPE_CHECKING:
    import segno

DEFAULT_SCALE = 8
MAX_SCALE = 40


class ImageKind(enum.Enum):
    SVG = "svg"
    PNG = "png"

    @property
    def media_type(self) -> str:
        return "image/svg+xml" if self is ImageKind.SVG else "image/png"

    @classmethod
    def parse(cls, text: str) -> ImageKind:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ExtError(f"unknown QR image type {text!r}: use svg or png") from None


def _code(text: str) -> segno.QRCode:
    import segno  # here, not with the module: a server process that draws no QR code does not hold it

    return segno.make_qr(text, error="m")


def image(text: str, kind: ImageKind, *, scale: int = DEFAULT_SCALE) -> bytes:
    """The QR code of ``text`` as an image, with the quiet zone scanners need."""
    if not 1 <= scale <= MAX_SCALE:
        raise ExtError(f"QR scale {scale} is out of range: use 1 to {MAX_SCALE}")
    out = io.BytesIO()
    if kind is ImageKind.SVG:
        _code(text).save(out, kind="svg", scale=scale, title="Share link", xmldecl=True)
    else:
        _code(text).save(out, kind="png", scale=scale)
    return out.getvalue()


QUIET_ZONE = 4   # modules of light border a scanner needs around the code (ISO/IEC 18004, section 6.3.8)


@dataclass(frozen=True)
class Drawing:
    """The QR code of a text as one SVG path: a page writes it into an ``<svg viewBox="0 0 size size">``
    of its own, so nothing but numbers and path letters comes from here."""

    size: int    # modules across, the quiet zone included
    path: str    # SVG path data: one filled 1-module-high rectangle per run of dark modules, 1 unit a module


def drawing(text: str) -> Drawing:
    rows = list(_code(text).matrix_iter(scale=1, border=QUIET_ZONE))
    runs = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return Drawing(len(rows), "".join(runs))


def terminal(text: str, out: TextIO | None = None) -> None:
    """The QR code drawn with block characters, two rows of modules per line."""
    _code(text).terminal(out=out or sys.stdout, compact=True)


def kind_of(destination: str) -> ImageKind | None:
    """The image type a destination asks for (``None``: the terminal, ``-``)."""
    if destination == "-":
        return None
    lowered = destination.lower()
    if lowered.endswith(".svg"):
        return ImageKind.SVG
    if lowered.endswith(".png"):
        return ImageKind.PNG
    raise ExtError(f"cannot tell the QR image type of {destination!r}: end the file name with .svg or .png, "
                   "or give - for the terminal")


def write(text: str, destination: str, *, scale: int = DEFAULT_SCALE) -> str:
    """Write the QR code to ``destination`` (``*.svg``, ``*.png``, or ``-`` for the terminal).

    Returns a sentence saying where it went.
    """
    kind = kind_of(destination)
    if kind is None:
        terminal(text)
        return "QR code printed above"
    data = image(text, kind, scale=scale)
    try:
        with open(destination, "wb") as f:
            f.write(data)
    except OSError as e:
        raise ExtError(f"cannot write the QR code to {destination!r}: {e.strerror}") from e
    return f"QR code written to {destination}"
