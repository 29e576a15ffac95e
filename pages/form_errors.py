"""A form's validation errors in the words of the people who fill it in, as the GOV.UK Design System
asks ("Enter the meeting date", "Select a decision", "Meeting date must be a real date", "Hours a week
must be more than 0"), in place of pydantic's ("Field required", "Input should be a valid date").

Only the messages of the command's own validation are reworded (it names its error's type); a rule's
refusal (`invalid_for_case`, a validator's own reason) keeps the API's words, after the field's label."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from pages.action_forms import CHOICE_KINDS, FormField
from pages.case_actions import Refusal

_MISSING = frozenset({"missing", "string_too_short", "too_short", "list_too_short", "string_type", "none_required"})
_CHOICE = frozenset({"enum", "literal_error"})
_NUMBER = frozenset({
    "int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "decimal_parsing", "decimal_type",
    "finite_number", "decimal_max_digits", "decimal_max_places", "decimal_whole_digits",
})
_BOUNDS = {
    "greater_than": "{called} must be more than {n}",
    "greater_than_equal": "{called} must be {n} or more",
    "less_than": "{called} must be less than {n}",
    "less_than_equal": "{called} must be {n} or less",
}
_LAST_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\D*$")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def missing_message(f: FormField) -> str:
    """What to ask for when the field was left empty (or its choice is not one of the choices)."""
    if f.missing:
        return f.missing
    verb = "Select" if f.kind in CHOICE_KINDS else "Choose" if f.kind == "file" else "Enter"
    return f"{verb} {_lower_first(f.called or f.label)}"


def message_for(f: FormField, kind: str | None, api_message: str) -> str | None:
    """The field's error in the users' words, or None to keep the API's message (a rule's refusal)."""
    called = f.called or f.label
    if kind is None or kind == "invalid_for_case" or kind == "value_error" and "email" not in api_message:
        return None
    if kind in _MISSING or kind in _CHOICE or f.kind in CHOICE_KINDS:
        return missing_message(f)
    if kind.startswith(("date", "datetime")):
        return f.invalid or f"{called} must be a real date"
    if kind in _NUMBER:
        return f.invalid or f"{called} must be a number"
    if kind in _BOUNDS:
        found = _LAST_NUMBER.search(api_message)
        if found:
            return _BOUNDS[kind].format(called=called, n=found.group(1))
    if kind == "string_too_long":
        found = _LAST_NUMBER.search(api_message.replace(" characters", ""))
        if found:
            return f"{called} must be {found.group(1)} characters or fewer"
    if kind == "value_error":  # an email address the validator refused
        return f.invalid or "Enter an email address in the correct format, like name@example.com"
    return f.invalid or f"Enter a real {_lower_first(called)}"


def _field_of(fid: str, fields: Sequence[FormField], aliases: Mapping[str, str]) -> FormField | None:
    """The form field an error is about: by id, through the form's aliases (the command's name for
    it), or the list field an item belongs to (`days-0` is about `days`)."""
    fid = aliases.get(fid, fid)
    for f in fields:
        if fid == f.id or fid.startswith(f.id + "-") and f.kind in ("lines", "checkboxes"):
            return f
    return None


def in_users_words(refusal: Refusal, fields: Sequence[FormField], aliases: Mapping[str, str] | None = None) -> Refusal:
    """The refusal with each field's message reworded where it came from the command's validation,
    under the form field's own id; the first error of a field wins."""
    messages: dict[str, str] = {}
    worded = set(refusal.worded)
    for fid, api_message in refusal.fields.items():
        f = _field_of(fid, fields, aliases or {})
        target = f.id if f else fid
        if target in messages:
            continue
        text = message_for(f, refusal.kinds.get(fid), api_message) if f else None
        if text is None:
            messages[target] = api_message
        else:
            messages[target] = text
            worded.add(target)
    return replace(refusal, fields=messages, worded=frozenset(worded))
