"""The worker's sandbox (infra.workflow_runner): every workflow run still gets module globals of its
own, from code compiled once; the helpers passed through are the ones the workflow imports."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from infra import workflow_runner
from infra.workflow_runner import PURE_WORKFLOW_HELPERS, WORKFLOW_MODULES, _SharedCodeFinder

PROBE = '''
RUNS = []


def note(run):
    RUNS.append(run)
    return list(RUNS)
'''


def test_each_import_runs_in_fresh_globals_from_one_compiled_code(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "shared_code_probe.py").write_text(PROBE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = _SharedCodeFinder(["shared_code_probe"])
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    try:
        first = importlib.import_module("shared_code_probe")
        del sys.modules["shared_code_probe"]
        second = importlib.import_module("shared_code_probe")
    finally:
        sys.modules.pop("shared_code_probe", None)
    assert first is not second
    assert first.note("a") == ["a"]
    assert second.note("b") == ["b"]  # the first import's state is not the second's
    assert first.note.__code__ is second.note.__code__


def test_the_workflow_modules_exist_and_the_helpers_are_what_the_workflow_imports() -> None:
    for name in (*WORKFLOW_MODULES, *PURE_WORKFLOW_HELPERS):
        assert importlib.util.find_spec(name) is not None, name
    source = Path(importlib.util.find_spec("workflows.case_workflow").origin).read_text(encoding="utf-8")
    for helper in PURE_WORKFLOW_HELPERS:
        assert f"from {helper} import" in source, helper
    runner = workflow_runner.workflow_runner()
    assert set(PURE_WORKFLOW_HELPERS) <= runner.restrictions.passthrough_modules
