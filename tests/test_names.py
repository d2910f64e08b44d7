"""Names people type (users, circles, collections) are checked before they are stored."""

from __future__ import annotations

import pytest

from radicale_ext.base import names
from radicale_ext.base.errors import InvalidName

GOOD_USERS = ["alice", "Bob", "a", "alice.smith", "alice_smith", "alice-smith", "alice@example.org",
              "alice+work@example.org", "007", "a" * names.MAX_NAME_LENGTH]
GOOD_CIRCLES = ["family", "team-1", "team_2", "Team.B", "x"]
GOOD_SEGMENTS = ["family", "0c0b4f44-3b55-4b29-9a0e-2b8f5e0a0d11", "work~2", "a.b", "x@y+z", "家庭",
                 "Fußball 🎉", "Familie Müller", "zoë", "100% Sport", "家" * 85]
# users and circles are ASCII; collections are named in any language
ASCII_ONLY = {"space", "non ascii"}

BAD = {
    "empty": "",
    "dot dot": "a..b",
    "parent": "..",
    "slash": "a/b",
    "leading dot": ".hidden",
    "leading dash": "-rf",
    "newline": "ali\nce",
    "carriage return": "alice\r",
    "tab": "al\tice",
    "nul": "al\x00ice",
    "escape": "\x1b[31malice",
    "delete": "alice\x7f",
    "c1 control": "alice\x85",
    "space": "alice smith",
    "colon": "alice:x",
    "backslash": "a\\b",
    "non ascii": "zoë",
    "too long": "a" * (names.MAX_NAME_LENGTH + 1),
    "ten thousand": "a" * 10_000,
}


@pytest.mark.parametrize("value", GOOD_USERS)
def test_good_user_names_pass_unchanged(value: str) -> None:
    assert names.user_name(value) == value


@pytest.mark.parametrize("value", GOOD_CIRCLES)
def test_good_circle_names_pass_unchanged(value: str) -> None:
    assert names.circle_name(value) == value


@pytest.mark.parametrize("value", GOOD_SEGMENTS)
def test_good_collection_segments_pass_unchanged(value: str) -> None:
    assert names.collection_segment(value) == value


@pytest.mark.parametrize("check", [names.user_name, names.circle_name, names.collection_segment,
                                   names.new_collection_name])
@pytest.mark.parametrize("what", BAD.keys())
def test_bad_names_are_refused_with_one_short_line(check, what: str) -> None:
    value = BAD[what]
    if what in ASCII_ONLY and check in (names.collection_segment, names.new_collection_name):
        assert check(value) == value
        return
    with pytest.raises(InvalidName) as caught:
        check(value)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert len(message) < 200
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in message)


def test_message_says_what_is_wrong() -> None:
    with pytest.raises(InvalidName, match=r"^user name 'a\.\.b' may not contain '\.\.' or '/'$"):
        names.user_name("a..b")
    with pytest.raises(InvalidName, match=r"^circle name 'fa\\nmily' contains control characters$"):
        names.circle_name("fa\nmily")
    with pytest.raises(InvalidName, match=r"^user name 'a{55}\.\.\.' is longer than 128 characters$"):
        names.user_name("a" * 10_000)
    with pytest.raises(InvalidName, match=r"^user name is empty$"):
        names.user_name("")
    with pytest.raises(InvalidName, match=r"^circle name 'a b' has characters that are not allowed"):
        names.circle_name("a b")


def test_circle_names_are_stricter_than_user_names() -> None:
    for value in ("a@b", "a+b", "a~b"):
        with pytest.raises(InvalidName):
            names.circle_name(value)


@pytest.mark.parametrize("value, expected", [
    ("alice/family", ("alice", "/alice/family/")),
    ("/alice/family/", ("alice", "/alice/family/")),
    ("alice//family", ("alice", "/alice/family/")),
    (" alice/family ", ("alice", "/alice/family/")),
    ("bob@example.org/work~2", ("bob@example.org", "/bob@example.org/work~2/")),
])
def test_collection_path(value: str, expected: tuple[str, str]) -> None:
    assert names.collection_path(value) == expected


@pytest.mark.parametrize("value", [
    "alice", "alice/family/extra", "/", "", "alice/..", "../alice/family", "alice/../bob",
    "alice/fam\nily", "alice/family\n", "ali ce/family", "alice/.family", "alice/" + "f" * 10_000,
    "a" * 10_000, "alice/fa\x00mily",
])
def test_bad_collection_paths_are_refused_with_one_short_line(value: str) -> None:
    with pytest.raises(InvalidName) as caught:
        names.collection_path(value)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 200


def test_shown_quotes_escapes_and_shortens() -> None:
    assert names.shown("alice") == "'alice'"
    assert names.shown("a\nb") == "'a\\nb'"
    long = names.shown("x" * 10_000)
    assert len(long) == names.SHOWN_LENGTH and long.startswith("'xxx") and long.endswith("...'")


@pytest.mark.parametrize("value", ["a:b", "a,b", "what?", "o'clock", 'say "hi"', "a*", "a\\b", "a\u200db",
                                   "a\u2028b", "\u00a0x", " family", "家" * 86, "x" * 129])
def test_collection_names_refuse_what_radicale_refuses_in_a_path(value: str) -> None:
    for check in (names.collection_segment, names.new_collection_name):
        with pytest.raises(InvalidName):
            check(value)


def test_a_new_collection_name_may_not_look_like_a_share_or_end_in_a_space() -> None:
    assert names.collection_segment("family~alice") == "family~alice"
    with pytest.raises(InvalidName, match="'~': it marks a shared collection"):
        names.new_collection_name("family~alice")
    with pytest.raises(InvalidName, match="may not start or end with a space"):
        names.new_collection_name("family ")


def test_a_new_collection_name_is_stored_in_nfc() -> None:
    decomposed = "Mu\u0308ller"  # as macOS spells it
    assert names.new_collection_name(decomposed) == "Müller"
    assert names.new_collection_path(f"alice/{decomposed}") == ("alice", "/alice/Müller/")


@pytest.mark.parametrize("value", ["alice", "alice/", "/alice/a/b/", "alice/x~y", "ali ce/family"])
def test_a_new_collection_path_is_owner_slash_name(value: str) -> None:
    with pytest.raises(InvalidName):
        names.new_collection_path(value)
