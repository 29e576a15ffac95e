"""The list queries behind /cases and /tasks: filters, sorting, pages and school scope; and
finding a child's open case by child key."""

from datetime import date

from domain.people import Role
from readmodel import case_queries as q
from readmodel.case_projection import child_key
from readmodel.database import session_scope
from tests.readmodel_fixtures import child


def _refs(rows) -> list[str]:
    return [r.case_ref for r in rows]


def test_list_cases_filters_sorting_and_pages(seeded):
    with session_scope(seeded) as session:
        rows, total = q.list_cases(session)
        assert total == 7
        assert _refs(rows) == [
            "MN-25-000002",
            "MN-25-000003",
            "MN-25-000001",
            "MN-25-000007",
            "MN-25-000004",
            "MN-25-000005",
            "MN-25-000006",
        ]
        assert _refs(q.list_cases(session, stage="deciding")[0]) == ["MN-25-000002", "MN-25-000003"]
        assert _refs(q.list_cases(session, school_urn="120003")[0]) == ["MN-25-000007", "MN-25-000005"]
        assert q.list_cases(session, officer="officer-kd")[1] == 2
        assert _refs(q.list_cases(session, overdue=True)[0]) == ["MN-25-000002", "MN-25-000003"]
        assert q.list_cases(session, overdue=False)[1] == 5
        assert _refs(q.list_cases(session, stalled=True)[0]) == ["MN-25-000003", "MN-25-000004"]
        assert _refs(q.list_cases(session, due_before=date(2025, 11, 20))[0]) == [
            "MN-25-000002",
            "MN-25-000003",
        ]
        assert q.list_cases(session, overdue=True, stalled=True, school_urn="120002")[1] == 1
        # A school key sees only its own schools; an empty scope sees nothing.
        rows, total = q.list_cases(session, school_urns=["120001"])
        assert total == 3 and {r.school_urn for r in rows} == {"120001"}
        assert q.list_cases(session, school_urns=["120001"], school_urn="120002") == ([], 0)
        assert q.list_cases(session, school_urns=[]) == ([], 0)
        # Pages.
        page1, total = q.list_cases(session, limit=3, offset=0)
        page2, _ = q.list_cases(session, limit=3, offset=3)
        page3, _ = q.list_cases(session, limit=3, offset=6)
        assert total == 7 and len(page1) == 3 and len(page3) == 1
        assert _refs(page1 + page2 + page3) == _refs(q.list_cases(session)[0])
        assert q.list_cases(session, offset=50) == ([], 7)


def test_list_tasks_filters_sorting_and_pages(seeded):
    with session_scope(seeded) as session:
        rows, total = q.list_tasks(session)
        assert total == 12  # two per open case
        assert [r.due_on for r in rows] == sorted(r.due_on for r in rows)
        assert rows[0].task_id == "MN-25-000001-b"
        assert q.list_tasks(session, assignee="officer-kd")[1] == 2
        assert q.list_tasks(session, assignee_role="parent")[1] == 6
        assert q.list_tasks(session, assignee_role=Role.CASEWORKER)[1] == 6
        assert {r.task_id for r in q.list_tasks(session, overdue=True)[0]} == {
            "MN-25-000002-a",
            "MN-25-000003-a",
        }
        assert q.list_tasks(session, due_before=date(2025, 11, 12))[1] == 2
        rows, total = q.list_tasks(session, school_urns=["120002"], assignee_role="caseworker")
        assert total == 2 and {r.case_ref for r in rows} == {"MN-25-000003", "MN-25-000004"}
        page, total = q.list_tasks(session, limit=5, offset=10)
        assert total == 12 and len(page) == 2


def test_find_open_case_by_child_key(seeded, keyring):
    with session_scope(seeded) as session:
        key = child_key(keyring, child(given="child1"), "120001")
        assert q.find_open_case_by_child_key(session, key).case_ref == "MN-25-000002"
        closed = child_key(keyring, child(given="Child5"), "120001")
        assert q.find_open_case_by_child_key(session, closed) is None
        assert (
            q.find_open_case_by_child_key(session, child_key(keyring, child(given="Child1"), "120009"))
            is None
        )
