"""`python -m paysaga.api --port P`: serve the HTTP API with uvicorn on loopback by default."""

from __future__ import annotations

import argparse

import uvicorn

from paysaga.api.app import create_app
from paysaga.config.logging import configure_logging
from paysaga.config.settings import load_settings
from paysaga.config.temporal import exit_skipping_finalization


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paysaga.api", description="paysaga HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: PAYSAGA_API_PORT")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port or settings.api_port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # rate limits key on the socket peer, not a spoofable header
    )


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    # The app holds a Temporal client: leave without interpreter finalization, as the
    # workers and the CLI do (see config.temporal.exit_skipping_finalization).
    try:
        main()
        exit_code = 0
    except SystemExit as exc:  # uvicorn exits this way when it cannot start
        exit_code = _exit_code(exc)
    exit_skipping_finalization(exit_code)
