"""vobject's handling of content lines made quicker, with the same results.

A PUT of one event spends a good part of its time, before Radicale's write
lock, in vobject reading the body and writing it out again (issue 17:
bench/RESULTS.md, "PUT of an existing event").  Two of vobject's inner steps
cost more than their work:

- **Setting an attribute of a line or component.**  ``ContentLine`` and
  ``Component`` override ``__setattr__`` so that ``line.tzid_param = ...``
  sets a parameter and ``component.summary = ...`` a property; every other
  name (``value``, ``params``, ``isNative``, ``behavior``, ...) goes, after a
  few string tests, through ``getattr(type(self), name, None)`` (a failed
  lookup raises and catches an AttributeError inside) to find whether the
  class has a property of that name.  vobject sets such attributes about 500
  times for one event.  :func:`_line_setattr` and :func:`_component_setattr`
  remember, per class and name, that a name is a plain attribute, and set
  it at once; any other name (a parameter, a property of the component, a
  class property) gets vobject's own method.  vobject's classes do not gain
  properties at run time, so the answer per class and name does not change.
- **Making a line.**  ``ContentLine.__init__`` sets its ten attributes one
  by one through that ``__setattr__`` (and one more for each parameter
  without a value): :func:`_line_init` puts them into the new line's
  ``__dict__`` at once, in vobject's order, for a plain ``ContentLine``
  (not a subclass, which might define properties) whose parameters say
  nothing of quoted-printable; any other line is made by vobject itself.
- **Reading a TEXT value.**  ``stringToTextValues`` undoes backslash escapes
  and splits at the separator, one character at a time through a state
  machine.  A value without a backslash and without the separator is the
  list of itself (what the machine returns for it); :func:`string_to_text_values`
  answers that at once and leaves every other value to vobject.

- **Turning a line's text into its value.**  ``VBase.transformToNative``
  copies the whole line (``copy.copy``, through pickle's reduce protocol)
  before every transformation, only to quote it in the error message when
  the transformation fails: for every date, time, duration and TEXT line
  read.  :func:`_line_to_native` keeps the line's attributes (a dict copy: what
  ``copy.copy`` copies) and makes the line of them only for a message.

- **Writing a line with a value.**  ``Behavior.serialize`` turns the
  line's value into text in place, writes it, and then turns the text into
  the value again: every date and time parsed once more after each write
  (a fifth of vobject's serialization of an event).  vobject requires the
  two transformations to be exact inverses of each other; so
  :func:`_serialize_line` keeps the line's attributes and parameters before
  and puts them back after the write, the same state without the parse
  (the test compares every line's state after writing with vobject's, over
  real calendars).

- **Writing a line's text, folded.**  ``defaultSerialize`` builds each line
  in a ``StringIO`` of its own, and ``foldOneLine`` first tries to write the
  line as bytes into vobject's text buffer (it fails, raising and catching a
  TypeError, for every line) and folds a long line one character at a time.
  :func:`_write_line` builds the line with one join and :func:`fold_one_line`
  writes it, or its 75-octet pieces (never splitting a character's UTF-8
  octets), at once: the same text, for every buffer vobject makes itself;
  any other buffer (bytes, a caller's own) gets vobject's own functions.

``tests/index/test_vobject_lines.py`` compares all of them with vobject's own.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

from vobject import base, behavior, icalendar, vcard

_original_line_setattr = base.ContentLine.__setattr__
_original_component_setattr = base.Component.__setattr__
_original_string_to_text_values = icalendar.stringToTextValues
_original_to_native = base.VBase.transformToNative
_original_serialize = behavior.Behavior.serialize
_original_fold = base.foldOneLine
_original_line_init = base.ContentLine.__init__

#: per (class, name): True where vobject's ``__setattr__`` would store a plain attribute
_PLAIN: dict[tuple[type, str], bool] = {}
#: names are those vobject's and Radicale's code set; a bound keeps a caller with made-up names harmless
MOST_NAMES = 4096


def _plain_for_line(cls: type, name: str) -> bool:
    return not name.endswith(("_param", "_paramlist")) and not isinstance(getattr(cls, name, None), property)


def _plain_for_component(cls: type, name: str) -> bool:
    if name not in cls.normal_attributes and name.lower() == name:  # type: ignore[attr-defined]
        return False   # a property of the component: ``component.summary = line``
    return not isinstance(getattr(cls, name, None), property)


def _remembered(cls: type, name: str, plain_for: Callable[[type, str], bool]) -> bool:
    key = (cls, name)
    plain = _PLAIN.get(key)
    if plain is None:
        plain = plain_for(cls, name)
        if len(_PLAIN) < MOST_NAMES:
            _PLAIN[key] = plain
    return plain


def _line_setattr(self: base.ContentLine, name: str, value: Any) -> None:
    """``ContentLine.__setattr__``: a plain attribute set at once, anything else as vobject does."""
    if _remembered(type(self), name, _plain_for_line):
        object.__setattr__(self, name, value)
    else:
        _original_line_setattr(self, name, value)


def _component_setattr(self: base.Component, name: str, value: Any) -> None:
    """``Component.__setattr__``: a plain attribute set at once, anything else as vobject does."""
    if _remembered(type(self), name, _plain_for_component):
        object.__setattr__(self, name, value)
    else:
        _original_component_setattr(self, name, value)


def _line_init(self: base.ContentLine, name: str, params: Any, value: Any, group: str | None = None,
               encoded: bool = False, isNative: bool = False, lineNumber: int | None = None,  # noqa: N803
               *args: Any, **kwargs: Any) -> None:
    """``ContentLine.__init__``: the same attributes, in the same order, set at once."""
    if (type(self) is not base.ContentLine or args or kwargs or type(params) is not list
            or any("QUOTED-PRINTABLE" in p for p in params)):
        _original_line_init(self, name, params, value, group, encoded, isNative, lineNumber, *args, **kwargs)
        return
    table: dict[str, list[Any]] = {}
    singletons: list[Any] = []
    for param in params:
        if len(param) == 1:
            singletons += param
        else:
            table.setdefault(param[0].upper(), []).extend(param[1:])
    self.__dict__.update(group=group, behavior=None, parentBehavior=None, isNative=isNative, name=name.upper(),
                         encoded=encoded, params=table, singletonparams=singletons, lineNumber=lineNumber,
                         value=value)


def string_to_text_values(s: Any, listSeparator: str = ",", *args: Any, **kwargs: Any) -> list[Any]:  # noqa: N803
    """vobject's ``stringToTextValues``: a value with nothing to unescape or split is the list of itself."""
    if type(s) is str and "\\" not in s and listSeparator not in s:
        return [s]
    return _original_string_to_text_values(s, listSeparator, *args, **kwargs)


def _line_to_native(self: base.VBase) -> Any:
    """``VBase.transformToNative``: the same transformation and the same errors, without copying the line
    beforehand (its attributes are kept, and made a line again only for a failure's message)."""
    if self.isNative or not self.behavior or not self.behavior.hasNative:
        return self
    before = dict(self.__dict__)   # what copy.copy would copy: the line has no state but its attributes
    try:
        return self.behavior.transformToNative(self)
    except Exception as e:
        line_number = getattr(self, "lineNumber", None)
        if isinstance(e, base.ParseError):
            if line_number is not None:
                e.lineNumber = line_number
            raise
        original = type(self).__new__(type(self))
        original.__dict__.update(before)
        kind, problem = sys.exc_info()[:2]
        message = f"In transformToNative, unhandled exception on line {line_number}: {kind}: {problem}"
        raise base.ParseError(message + " (" + str(original) + ")", line_number)  # noqa: B904 - as vobject


def _serialize_line(cls: type[behavior.Behavior], obj: Any, buf: Any, lineLength: int, validate: bool = True,  # noqa: N803
                    *args: Any, **kwargs: Any) -> Any:
    """``Behavior.serialize``: for a line holding a value, its state is put back after the write instead of
    being parsed again from the text written; anything else as vobject writes it."""
    if not isinstance(obj, base.ContentLine) or not obj.isNative:
        return _original_serialize.__func__(cls, obj, buf, lineLength, validate, *args, **kwargs)  # type: ignore[attr-defined]
    cls.generateImplicitParameters(obj)
    if validate:
        cls.validate(obj, raiseException=True)
    attributes = dict(obj.__dict__)
    params = {name: list(values) for name, values in obj.params.items()}
    singletons = list(obj.singletonparams)
    out = _write_line(obj.transformFromNative(), buf, lineLength)
    obj.__dict__.clear()
    obj.__dict__.update(attributes)   # the same params dict and singletons list, their contents put back
    obj.params.clear()
    obj.params.update(params)
    obj.singletonparams[:] = singletons
    return out


def _write_line(line: base.ContentLine, buf: Any, lineLength: int) -> Any:  # noqa: N803 - as vobject
    """``defaultSerialize`` of one line into vobject's own text buffer: the same text, built at once."""
    if type(buf) is not io.StringIO:
        return base.defaultSerialize(line, buf, lineLength)
    line_behavior, started_encoded = line.behavior, line.encoded
    if line_behavior and not started_encoded:
        line_behavior.encode(line)
    params = line.params
    parts = [line.name.upper() if line.group is None else f"{line.group}.{line.name.upper()}"]
    parts += [f";{key}={','.join(map(base.dquoteEscape, params[key]))}" for key in sorted(params)]
    parts.append(f":{line.value}")
    if line_behavior and not started_encoded:
        line_behavior.decode(line)
    fold_one_line(buf, "".join(parts), lineLength)
    return None


def fold_one_line(outbuf: Any, text: Any, lineLength: int = 75) -> None:  # noqa: N803 - as vobject
    """vobject's ``foldOneLine``: ``text`` and its line break, folded before a character that would take a
    line past ``lineLength`` UTF-8 octets (a folded line starts with a space, which counts)."""
    if type(outbuf) is not io.StringIO or type(text) is not str or lineLength < 2:
        return _original_fold(outbuf, text, lineLength)
    if len(text) < lineLength:
        outbuf.write(text + "\r\n")
        return None
    if text.isascii():
        step = lineLength - 1
        pieces = [text[:lineLength], *(text[i:i + step] for i in range(lineLength, len(text), step))]
    else:
        try:
            sizes = [len(character.encode("utf-8")) for character in text]
        except UnicodeEncodeError:   # a lone surrogate: vobject's own error
            return _original_fold(outbuf, text, lineLength)
        pieces, start, counter = [], 0, 0
        for index, size in enumerate(sizes):
            if counter + size > lineLength:
                pieces.append(text[start:index])
                start, counter = index, 1
            counter += size
        pieces.append(text[start:])
    outbuf.write("\r\n ".join(pieces) + "\r\n")
    return None


def install() -> None:
    """Use them wherever vobject makes a line, sets attributes, reads TEXT values (iCalendar and vCard), turns
    a line's text into its value and writes and folds a line."""
    base.VBase.transformToNative = _line_to_native
    base.ContentLine.__init__ = _line_init  # type: ignore[method-assign]
    behavior.Behavior.serialize = classmethod(_serialize_line)  # type: ignore[assignment,method-assign]
    base.ContentLine.__setattr__ = _line_setattr
    base.Component.__setattr__ = _component_setattr
    icalendar.stringToTextValues = string_to_text_values
    vcard.stringToTextValues = string_to_text_values
    base.foldOneLine = icalendar.foldOneLine = fold_one_line
