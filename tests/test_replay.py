"""Cases already running must keep running after a deploy: every recorded history in tests/histories
(recorded by `python -m tests.record_histories`) replays against the current CaseWorkflow without
a nondeterminism error. A failure here means the change would break open cases on the next worker
restart; guard it with `workflow.patched` (README, "Changing workflow code safely")."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from infra.temporal_client import build_data_converter
from tests.record_histories import HISTORIES, HISTORY_TEST_KEY, PATHS
from tests.support import make_settings
from workflows.case_workflow import CaseWorkflow


def history_files() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def replayer_for(*workflows: type, base: Path) -> Replayer:
    """A replayer decoding with the fixed key the histories were recorded with."""
    settings = make_settings(base, encryption_keys=HISTORY_TEST_KEY)
    return Replayer(workflows=list(workflows), data_converter=build_data_converter(settings))


def test_every_recorded_path_has_a_history() -> None:
    recorded = {p.stem.split("@")[0] for p in history_files()}
    assert recorded, f"no histories in {HISTORIES}: run `.venv/bin/python -m tests.record_histories`"
    assert recorded == set(PATHS), "tests/histories and tests/record_histories.PATHS disagree"


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path, tmp_path: Path) -> None:
    history = load_history(path)
    assert len(history.events) > 20, "a recorded case history is never this short"
    result = await replayer_for(CaseWorkflow, base=tmp_path).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
