"""What the read-model tests in this folder share besides fixtures: the projection's clock and
`_write`, which projects one case view in its own session."""

from datetime import UTC, datetime

from readmodel.case_projection import write_case_view
from readmodel.database import session_scope

NOW = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def _write(engine, view, keyring, now=NOW) -> bool:
    with session_scope(engine) as session:
        return write_case_view(session, view, keyring, now)
