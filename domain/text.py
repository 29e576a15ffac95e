"""Text a person types into a case: never NUL or other control characters (PostgreSQL cannot store
NUL, and a control character in a name or a letter is never meant). `Line` is one line (a name, a
provider); `Text` may hold line breaks and tabs (a note, a reason). `Required...` may not be blank.
The messages name what is wrong, never the text itself."""

import re
from typing import Annotated

from pydantic import AfterValidator

#: A search term (a query parameter) without control characters: for `Query(pattern=...)`.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


#: Unicode's control characters (category Cc: U+0000-U+001F and U+007F-U+009F), as one scan of the
#: text (a character-by-character category lookup cost the worker ~1% of its time on every payload).
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The same, but for line breaks and tabs.
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _line(value: str) -> str:
    if _ANY_CONTROL.search(value):
        raise ValueError("must be one line of text without control characters (such as NUL or a line break)")
    return value


def _text(value: str) -> str:
    if _CONTROL_BUT_LINES.search(value):
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
