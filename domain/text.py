"""Text a person types into a case: never NUL or other control characters (PostgreSQL cannot store
NUL, and a control character in a name or a letter is never meant). `Line` is one line (a name, a
provider); `Text` may hold line breaks and tabs (a note, a reason). `Required...` may not be blank.
The messages name what is wrong, never the text itself."""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

_LINE_BREAKS_AND_TABS = frozenset("\t\n\r")
#: A search term (a query parameter) without control characters: for `Query(pattern=...)`.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


def _controls(value: str, allowed: frozenset[str]) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def _line(value: str) -> str:
    if _controls(value, frozenset()):
        raise ValueError("must be one line of text without control characters (such as NUL or a line break)")
    return value


def _text(value: str) -> str:
    if _controls(value, _LINE_BREAKS_AND_TABS):
        raise ValueError("must not contain control characters (such as NUL); line breaks and tabs are allowed")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Line = Annotated[str, AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]
RequiredLine = Annotated[str, AfterValidator(_line), AfterValidator(_not_blank)]
RequiredText = Annotated[str, AfterValidator(_text), AfterValidator(_not_blank)]
