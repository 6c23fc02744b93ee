"""`python -m api --port P`: serve the HTTP API with uvicorn on loopback by default."""

from __future__ import annotations

import argparse

import uvicorn

from api.app import create_app
from config.logging import configure_logging
from config.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description="paysaga HTTP API")
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


if __name__ == "__main__":
    main()
