"""What one command changed in a case: the bounded answer a command gives its caller (the API).

A command's answer is stored in the case's history, so it must not carry the whole case: a case's
lists (timeline, notes, absence days, reviews, evidence, recoupment lines, fired alarms, ...) grow
with its age, and sending them whole with every command made history grow with the square of a
case's activity. A `CaseChange` carries the case's fixed-size fields, what it is waiting on, and,
of each list, only the items from the first one the command changed (`ListTail.start`), with the
list's new length. Applied to the case as it stood before the command (`base_version`) it gives the
whole case again (`apply_change`); applied to anything else it is wrong, so the caller checks the
version it holds first. `whole` marks a change whose lists are all sent from their first item (the
reader may not hold the case as it stood: it was behind when the command began).
"""

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from domain.case_state import CaseState, CaseView, PendingTask

#: The fields of `CaseState` that are lists (each may grow with the case's age).
LIST_FIELDS: tuple[str, ...] = tuple(
    name for name, info in CaseState.model_fields.items()
    if getattr(info.annotation, "__origin__", None) is list
)


class ListTail(BaseModel):
    """A list's items from `start` on (JSON), and its new length: items before `start` are as they were."""

    start: int
    length: int
    items: list[Any]


class CaseChange(BaseModel):
    """A command's answer: the case's fixed-size fields and what the command changed in its lists.
    Not the whole case: see the module's docstring."""

    case_ref: str
    version: int
    base_version: int = Field(description="The case's version when the command began")
    whole: bool = Field(default=False, description="Every list is sent from its first item")
    fields: dict[str, Any] = Field(description="The case's fields that are not lists, as JSON")
    lists: dict[str, ListTail] = Field(default_factory=dict, description="Only the lists that changed")
    pending_tasks: list[PendingTask]
    allowed_actions: list[str]
    next_deadline: date | None
    overdue: bool


def list_items(state: CaseState) -> dict[str, list[Any]]:
    """Every list of the case as JSON: what a change is measured against."""
    dumped = state.model_dump(mode="json", include=set(LIST_FIELDS))
    return {name: dumped[name] for name in LIST_FIELDS}


def describe_change(before: dict[str, list[Any]] | None, base_version: int, view: CaseView) -> CaseChange:
    """The change from `before` (the lists when the command began; None: send them whole) to `view`."""
    state = view.state
    after = list_items(state)
    lists: dict[str, ListTail] = {}
    for name in LIST_FIELDS:
        new = after[name]
        old = None if before is None else before[name]
        if old is not None and old == new:
            continue
        start = 0
        if old is not None:
            while start < len(old) and start < len(new) and old[start] == new[start]:
                start += 1
        lists[name] = ListTail(start=start, length=len(new), items=new[start:])
    return CaseChange(
        case_ref=state.case_ref,
        version=state.version,
        base_version=base_version,
        whole=before is None,
        fields=state.model_dump(mode="json", exclude=set(LIST_FIELDS)),
        lists=lists,
        pending_tasks=view.pending_tasks,
        allowed_actions=view.allowed_actions,
        next_deadline=view.next_deadline,
        overdue=view.overdue,
    )


def merge_lists(held: dict[str, list[Any]], change: CaseChange) -> dict[str, list[Any]]:
    """Every list of the case after `change`, from the lists `held` as they stood at its
    `base_version` (ignored for a `whole` change), as JSON."""
    lists: dict[str, list[Any]] = {}
    for name in LIST_FIELDS:
        tail = change.lists.get(name)
        items = [] if change.whole else held.get(name, [])
        if tail is not None:
            items = items[: tail.start] + tail.items
            del items[tail.length:]
        lists[name] = items
    return lists


def apply_change(held: dict[str, list[Any]], change: CaseChange) -> CaseView:
    """The whole case after `change` (see `merge_lists`)."""
    return view_of(change, merge_lists(held, change))


def view_of(change: CaseChange, lists: dict[str, list[Any]]) -> CaseView:
    """The whole case: the change's fields and tasks with every list."""
    return CaseView(
        state=CaseState.model_validate({**change.fields, **lists}),
        pending_tasks=change.pending_tasks,
        allowed_actions=change.allowed_actions,
        next_deadline=change.next_deadline,
        overdue=change.overdue,
    )


class ProjectionRequest(BaseModel):
    """What the case gives its read-model write: which case, at which version. The activity reads
    the case itself (the workflow's `view` query, which adds nothing to history), so the write's
    input stays the same size however old the case is."""

    case_ref: str
    version: int
