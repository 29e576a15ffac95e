"""Fixtures for the email activity tests: a real SMTP server (aiosmtpd) collecting what it
receives, a SQLite `sent_emails` table, and the email activities pointed at both."""

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import SQLModel

from activities.email import EmailActivities
from readmodel.database import make_engine
from tests.email_activities.mail_support import CollectingHandler, make_settings
from tests.support import free_port


@pytest.fixture
def smtp_server():
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'casework.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def smtp_activities(tmp_path, smtp_server, engine):
    controller, _ = smtp_server
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port)
    return EmailActivities(settings, engine=engine)
