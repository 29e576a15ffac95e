"""What the read model holds of a case, and when the case must write it (again).

A plain, deterministic helper of `CaseWorkflow` (no Temporal calls, time is passed in): the workflow
asks it whether a write is due and how long its main loop may sleep, and tells it when the state
changed and what a write achieved. Every `workflow.patched` decision stays in the workflow.
"""

from datetime import datetime, timedelta

#: While the read model is behind, the main loop retries the write this often.
RETRY_EVERY = timedelta(seconds=30)
#: After a command whose caller wrote the read model itself (the API), the case writes it once more
#: this long after (or sooner, with its next write of any kind): a no-op write normally, the catch-up
#: if the caller died between the answer and its commit. One check covers a burst of commands.
CHECK_CALLER_WRITE_AFTER = timedelta(minutes=10)


class ReadModelSync:
    def __init__(self) -> None:
        self.stale = True  # the read model does not show the state as it is now
        self.projected = False  # the read model holds this case (at some version)
        self._changes = 0  # how many times the state changed since the run started
        self._check_at: datetime | None = None  # when to check what a command's caller wrote
        self._check_version = 0  # the latest such command's version

    def mark_stale(self) -> None:
        """The state changed: the read model no longer shows it."""
        self.stale = True
        self._changes += 1

    def caller_wrote(self, version: int, now: datetime) -> None:
        """A command's caller writes this version to the read model: check it a while later (once
        for a burst of commands)."""
        if self._check_at is None:
            self._check_at = now + CHECK_CALLER_WRITE_AFTER
        self._check_version = version

    def due(self, now: datetime) -> bool:
        """Whether the main loop must write the read model now (the check of a caller's write counts
        as a change once its time has come)."""
        if self._check_at is not None and now >= self._check_at:
            self._check_at = None
            self.mark_stale()
        return self.stale

    def wait(self, now: datetime, timeout: timedelta | None, summary: str) -> tuple[timedelta | None, str]:
        """The main loop's wait (`timeout`, None for no limit, and what it waits for), shortened to
        retry a stale write or to check what a command's caller wrote."""
        if self.stale:
            timeout = min(timeout or RETRY_EVERY, RETRY_EVERY)
        if self._check_at is not None:
            until_check = max(self._check_at - now, timedelta(0))
            if timeout is None or until_check < timeout:
                timeout, summary = until_check, "checking the read model a command's caller wrote"
        return timeout, summary

    def writing(self) -> int:
        """Call as a write begins; give the result to `changed_since` once it has been written."""
        return self._changes

    def changed_since(self, writing: int) -> bool:
        return self._changes != writing

    def written(self, version: int, *, superseded: bool) -> None:
        """The read model now holds `version`; unless the state changed meanwhile (`superseded`), it
        is up to date."""
        if not superseded:
            self.stale = False
        self.projected = True
        if self._check_at is not None and version >= self._check_version:
            self._check_at = None  # this write covers the commands a caller wrote
