"""A real SMTP server for benchmarks that count what the service really delivered: every message the
workers hand over is kept, so "no email twice" is a count of deliveries, not the service's word.

aiosmtpd (a dev dependency, as for the fault tests) on a free port, on its own thread. Each message
carries `Message-ID`, `X-Casework-Case-Ref` and `X-Casework-Template` (activities/email.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller

from bench.support import free_port


class MailSink:
    """Start with `start()`, stop with `stop()`; `deliveries` counts per message, case and template."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list[tuple[str, str, str]] = []  # (Message-ID, case ref, template)
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        message = message_from_bytes(envelope.content)
        with self._lock:
            self._messages.append((str(message["Message-ID"]), str(message["X-Casework-Case-Ref"]),
                                   str(message["X-Casework-Template"])))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def env(self) -> dict[str, str]:
        """The CASEWORK_* settings that send the service's mail here."""
        return {"CASEWORK_SMTP_HOST": "127.0.0.1", "CASEWORK_SMTP_PORT": str(self.port)}

    def by_message_id(self) -> Counter[str]:
        with self._lock:
            return Counter(mid for mid, _, _ in self._messages)

    def by_case_and_template(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter((ref, template) for _, ref, template in self._messages)

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
