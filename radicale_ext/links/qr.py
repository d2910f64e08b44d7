"""QR codes of link addresses, with segno (ISO/IEC 18004), as SVG, PNG or terminal text."""

from __future__ import annotations

import enum
import io
import sys
from typing import TextIO

import segno

from ..base.errors import ExtError

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
