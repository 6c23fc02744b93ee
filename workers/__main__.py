"""`python -m workers --queue payments|gateways|ledger|all [--concurrency N]`.

Many processes of each kind can run at once. SIGTERM / SIGINT stop polling, let in-flight
activities finish (graceful_shutdown_timeout) and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import structlog

from paysaga.config.settings import get_settings
from paysaga.config.startup import EXIT_CONFIGURATION, exit_process, settings_or_exit
from paysaga.domain.errors import ConfigurationError

log = structlog.get_logger()


async def run(queues: tuple[str, ...], concurrency: int | None) -> None:
    # Imported here, after main() checked the settings: a refused start-up stops at once.
    from paysaga.config.temporal import connect_client
    from paysaga.domain.names import PAYMENTS_TASK_QUEUE
    from paysaga.security.keyring import Keyring
    from paysaga.security.open_workflow_keys import check_open_workflows
    from workers.build import build_workers
    from workers.deps import Dependencies
    from workers.settings import WorkerSettings

    settings = get_settings()
    tuning = WorkerSettings()
    if concurrency:
        tuning = tuning.model_copy(update={"max_concurrent_activities": concurrency})
    client = await connect_client(settings)
    if "payments" in queues:  # the workflow worker replays histories: it needs their keys
        await check_open_workflows(
            client,
            Keyring.from_settings(settings),
            PAYMENTS_TASK_QUEUE,
            settings.undecodable_workflows,
        )
    # Payments workers run the workflows' ledger postings as local activities.
    deps = await Dependencies.open(
        settings, gateways="gateways" in queues, ledger=bool({"ledger", "payments"} & set(queues))
    )
    workers = build_workers(client, settings, queues, deps, worker_settings=tuning)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runs = [asyncio.create_task(w.run()) for w in workers]
    shards = deps.ledger.shards.status() if deps.ledger else {}
    log.info(
        "workers.started",
        queues=list(queues),
        task_queues=[w.task_queue for w in workers],
        degraded_shards=[shard for shard, state in shards.items() if state != "ok"],
    )
    try:
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *runs], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped and task.exception():
                raise task.exception()  # type: ignore[misc]
        log.info("workers.draining")
        await asyncio.gather(*(w.shutdown() for w in workers))
    finally:
        await deps.close()
    log.info("workers.stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--queue", default="all", help="payments, gateways, ledger or all")
    parser.add_argument("--concurrency", type=int, default=None, help="max concurrent activities")
    args = parser.parse_args(argv)
    settings = settings_or_exit(parser.prog)  # exits 2 before connecting to anything
    from paysaga.config.logging import configure_logging
    from workers.build import parse_queues

    configure_logging(settings.log_format, settings.log_level)
    try:
        queues = parse_queues(args.queue)
        asyncio.run(run(queues, args.concurrency))
    except (ValueError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as exc:  # refused at start-up
        code = exc.code if isinstance(exc.code, int) else EXIT_CONFIGURATION
    exit_process(code)
