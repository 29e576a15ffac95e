"""The sandbox the worker runs case workflows in, shaped so that a thousand cached cases cost little.

Temporal's Python sandbox imports a workflow's module afresh for every workflow run it holds (its
module globals are the run's own), and with it every module that module imports that is not passed
through. A worker keeps about a thousand runs in memory (the SDK's sticky cache), so what is
re-imported is paid a thousand times. Two things keep that small, neither changing what a workflow
does:

- the workflow's pure helpers (`workflows.case_story`, `workflows.read_model_sync`: functions and a
  plain class, no module state, like the domain modules the workflow already passes through) are
  passed through, imported once;
- the workflow module itself is still executed afresh in every run's sandbox (its globals stay the
  run's own), but from one compiled code object for the whole process (`share_compiled_code`):
  code objects are immutable, and without it every run compiles the module again (the image and
  the benchmarks run with PYTHONDONTWRITEBYTECODE, so there is no .pyc) and keeps its own copy.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PURE_WORKFLOW_HELPERS = ("workflows.case_story", "workflows.read_model_sync")
"""Imported once per process, not per workflow run: deterministic, no module state."""

WORKFLOW_MODULES = ("workflows.case_workflow", "workflows.retention_sweep")
"""Executed in every run's sandbox from one compiled code object (`share_compiled_code`)."""


def workflow_runner() -> SandboxedWorkflowRunner:
    """The SDK's default sandbox, with the pure workflow helpers passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PURE_WORKFLOW_HELPERS))


class _CompiledOnce:
    """Compiled code by module name and file, shared by every import of those modules."""

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str], CodeType] = {}
        self._lock = threading.Lock()  # sandboxes are built on several threads

    def code(self, loader: importlib.machinery.SourceFileLoader, fullname: str) -> CodeType:
        key = (fullname, loader.path)
        with self._lock:
            found = self._codes.get(key)
        if found is None:
            compiled = importlib.machinery.SourceFileLoader.get_code(loader, fullname)
            if compiled is None:
                raise ImportError(f"no code for {fullname}", name=fullname)
            with self._lock:
                found = self._codes.setdefault(key, compiled)
        return found


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, compiled: _CompiledOnce) -> None:
        super().__init__(fullname, path)
        self._compiled = compiled

    def get_code(self, fullname: str) -> CodeType:
        return self._compiled.code(self, fullname)


class _SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules where Python would, and loads them from the shared code."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._compiled = _CompiledOnce()

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        found = importlib.machinery.PathFinder.find_spec(fullname, path)
        if found is None or not isinstance(found.loader, importlib.machinery.SourceFileLoader):
            return found
        loader = _SharedCodeLoader(fullname, found.loader.path, self._compiled)
        return importlib.util.spec_from_file_location(fullname, found.loader.path, loader=loader)


def share_compiled_code(names: Iterable[str] = WORKFLOW_MODULES) -> None:
    """From now on, every import of these modules (in every sandbox) runs one compiled code object.
    Call before the worker imports its workflows; calling it again adds nothing."""
    if not any(isinstance(f, _SharedCodeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SharedCodeFinder(names))
