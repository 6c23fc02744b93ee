"""`python -m paysaga.api --port P`: serve the HTTP API with uvicorn on loopback by default.

Settings are checked before the app (FastAPI, the Temporal SDK) is even imported, so a
production deployment with a bad setting stops at once with one message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from paysaga.config.settings import Settings
from paysaga.config.startup import exit_process, settings_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paysaga.api", description="paysaga HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: PAYSAGA_API_PORT")
    args = parser.parse_args(argv)
    settings = settings_or_exit(parser.prog)  # production fails closed before any connection
    serve(settings, args.host, args.port or settings.api_port)


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from paysaga.api.app import create_app
    from paysaga.config.logging import configure_logging, uvicorn_logging
    from paysaga.domain.errors import ConfigurationError

    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(_check_keys(settings))
    except ConfigurationError as exc:
        # Before uvicorn, so a refusal is one message, not a lifespan traceback.
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    uvicorn.run(
        create_app(settings, check_keys=False),
        host=host,
        port=port,
        proxy_headers=False,  # rate limits key on the socket peer, not a spoofable header
        **uvicorn_logging(),
    )


async def _check_keys(settings: Settings) -> None:
    """Refuse a key set that cannot decode the open payment workflows (or warn)."""
    from paysaga.config.temporal import connect_client
    from paysaga.domain.names import PAYMENTS_TASK_QUEUE
    from paysaga.security.keyring import Keyring
    from paysaga.security.open_workflow_keys import check_open_workflows

    client = await connect_client(settings)
    keyring = Keyring.from_settings(settings)
    mode = settings.undecodable_workflows
    await check_open_workflows(client, keyring, PAYMENTS_TASK_QUEUE, mode)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    # The app holds a Temporal client: leave without interpreter finalization, as the
    # workers and the CLI do (see startup.exit_process).
    try:
        main()
        exit_code = 0
    except SystemExit as exc:  # uvicorn exits this way when it cannot start
        exit_code = _exit_code(exc)
    exit_process(exit_code)
