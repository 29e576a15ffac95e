"""A worker for the raw baselines (bench/raw_workflows.py), run as its own process like worker.py:

    .venv/bin/python -m bench.raw_worker --address 127.0.0.1:PORT --task-queue Q [--codec]

`--codec` uses the service's data converter (pydantic JSON + AES-GCM codec, key from
CASEWORK_ENCRYPTION_KEYS); without it, plain pydantic JSON."""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.raw_workflows import RAW_ACTIVITIES, RAW_WORKFLOWS


async def main(address: str, task_queue: str, codec: bool) -> None:
    converter = pydantic_data_converter
    if codec:
        from infra.settings import Settings
        from infra.temporal_client import build_data_converter

        converter = build_data_converter(Settings(_env_file=None))  # type: ignore[call-arg]
    client = await Client.connect(address, data_converter=converter)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=RAW_WORKFLOWS, activities=RAW_ACTIVITIES):
        print("raw worker started", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--codec", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.address, args.task_queue, args.codec))
