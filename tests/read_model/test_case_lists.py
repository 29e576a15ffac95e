"""A command's bounded answer (`CaseChange`) written to the read model and the whole case put
together from it: across chunk boundaries, out of order, and refused when the lists held are not
those the command began from."""

from datetime import timedelta

from domain.case_change import describe_change, list_items
from domain.case_state import CaseNote, TimelineEvent
from domain.people import Actor, Role
from readmodel.case_lists import CHUNK, held_lists
from readmodel.case_projection import write_case_change
from readmodel.database import session_scope
from tests.read_model.read_model_support import NOW, _write
from tests.readmodel_fixtures import make_view

ACTOR = Actor(role=Role.CASEWORKER, name="officer-jb")


def add_note(view, text: str) -> None:
    state = view.state
    state.notes.append(CaseNote(at=NOW, actor=ACTOR, text=text))
    state.timeline.append(TimelineEvent(seq=len(state.timeline) + 1, at=NOW + timedelta(seconds=len(state.timeline)),
                                        actor=ACTOR, action="add_note", summary="note added"))


def noted(view, text: str):
    """The change a note makes, and the case after it."""
    before, base = list_items(view.state), view.state.version
    add_note(view, text)
    return describe_change(before, base, view)


def stored(engine, keyring, case_ref):
    with session_scope(engine) as session:
        return held_lists(session, case_ref, keyring)


def test_notes_across_chunks_put_the_whole_case_together(engine, keyring):
    view = make_view(events=1)
    _write(engine, view, keyring)
    for n in range(CHUNK + 5):  # past the first chunk
        change = noted(view, f"note {n}")
        assert change.lists["notes"].items == [view.state.notes[-1].model_dump(mode="json")]
        assert "timeline" in change.lists and "absence_days" not in change.lists
        with session_scope(engine) as session:
            whole = write_case_change(session, change, keyring, NOW)
        assert whole == view  # the same case the workflow holds
    version, lists = stored(engine, keyring, view.state.case_ref)
    assert version == view.state.version
    assert lists == {name: items for name, items in list_items(view.state).items() if items}


def test_an_older_change_landing_late_keeps_the_newer_lists(engine, keyring):
    view = make_view(events=1)
    _write(engine, view, keyring)
    first = noted(view, "first")
    second = noted(view, "second")
    with session_scope(engine) as session:
        assert write_case_change(session, second, keyring, NOW) is None  # a gap: the first is not there
    with session_scope(engine) as session:
        assert write_case_change(session, first, keyring, NOW) is not None
    _write(engine, view, keyring)  # the gap filled whole (as the API does from the workflow's view)
    with session_scope(engine) as session:
        late = write_case_change(session, first, keyring, NOW)  # the first write again, late
    assert late is None  # not applied to lists it did not start from
    version, lists = stored(engine, keyring, view.state.case_ref)
    assert version == view.state.version and [n["text"] for n in lists["notes"]][-2:] == ["first", "second"]
    assert lists["notes"] == list_items(view.state)["notes"]


def test_a_list_that_shrinks_loses_its_last_chunk(engine, keyring):
    view = make_view(events=1)
    for n in range(CHUNK + 1):
        add_note(view, f"note {n}")
    _write(engine, view, keyring)
    before, base = list_items(view.state), view.state.version
    del view.state.notes[CHUNK - 2:]
    view.state.timeline.append(TimelineEvent(seq=len(view.state.timeline) + 1, at=NOW, actor=ACTOR,
                                             action="notes_removed", summary="notes removed"))
    with session_scope(engine) as session:
        assert write_case_change(session, describe_change(before, base, view), keyring, NOW) == view
    _, lists = stored(engine, keyring, view.state.case_ref)
    assert len(lists["notes"]) == CHUNK - 2
