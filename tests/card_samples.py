"""Me cards for the cards tests: many fields and types, vCard 3.0 and 4.0."""

from __future__ import annotations

import base64

PHOTO_DATA = base64.b64encode(bytes(range(256)) * 2).decode()
# an inline photo, folded at 75 octets as clients write it
PHOTO_LINES = "PHOTO;ENCODING=b;TYPE=JPEG:" + PHOTO_DATA
PHOTO_FOLDED = "\r\n ".join(PHOTO_LINES[i:i + 74] for i in range(0, len(PHOTO_LINES), 74))

# Alice's card, vCard 3.0 as iOS writes it: groups with Apple labels, a folded note, a non-ASCII name.
ALICE_30 = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
    "UID:alice-own-uid\r\n"
    "N:Ångström;Alice;Maria;Dr.;\r\n"
    "FN:Dr. Alice Maria Ångström\r\n"
    "NICKNAME:Ally\r\n"
    "ORG:Acme Ltd.;Research\r\n"
    "TITLE:Chief Scientist\r\n"
    "TEL;TYPE=WORK,VOICE:+44 20 7946 0000\r\n"
    "TEL;TYPE=CELL:+44 7700 900123\r\n"
    "TEL;TYPE=HOME:+44 20 7946 0999\r\n"
    "item1.TEL:+44 7700 900456\r\n"
    "item1.X-ABLabel:_$!<Mobile>!$_\r\n"
    "EMAIL;TYPE=INTERNET,WORK:alice@acme.example\r\n"
    "EMAIL;TYPE=INTERNET,HOME:alice@home.example\r\n"
    "item2.ADR;TYPE=HOME:;;1 Rose Street;Oxford;;OX1 1AA;United Kingdom\r\n"
    "item2.X-ABADR:gb\r\n"
    "ADR;TYPE=WORK:;;5 Lab Road;Cambridge;;CB1 2AB;United Kingdom\r\n"
    "BDAY:1985-04-12\r\n"
    "NOTE:Allergic to peanuts. Prefers e-mail to phone calls; call the office number between nine and fi\r\n"
    " ve.\r\n"
    f"{PHOTO_FOLDED}\r\n"
    "URL;TYPE=WORK:https://acme.example/alice\r\n"
    "REV:2026-01-01T00:00:00Z\r\n"
    "END:VCARD\r\n"
)

# Carol's card, vCard 4.0: TYPE lists in quotes, tel: URIs, a PHOTO by URI.
CAROL_40 = (
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
    "FN:Carol Østergaard\r\n"
    "N:Østergaard;Carol;;;\r\n"
    'TEL;VALUE=uri;TYPE="work,voice";PREF=1:tel:+45-1234-5678\r\n'
    'TEL;VALUE=uri;TYPE="cell,text":tel:+45-8765-4321\r\n'
    "EMAIL;TYPE=work:carol@firm.example\r\n"
    "EMAIL;TYPE=home:carol@private.example\r\n"
    "PHOTO:https://photos.example/carol.jpg\r\n"
    "GENDER:F\r\n"
    "END:VCARD\r\n"
)

CLIENTS = "FN, ORG, TEL work, EMAIL work"
FRIENDS = "FN, N, NICKNAME, TEL cell, EMAIL home, PHOTO"
FAMILY = "*"


def lines(text: str) -> list[str]:
    """The logical lines of a card (folding undone), without BEGIN/END."""
    unfolded = text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")
    return [line for line in unfolded.split("\n") if line and not line.startswith(("BEGIN:", "END:"))]
