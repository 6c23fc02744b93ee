"""`python -m paysaga.sandbox --stripe-port N --braintree-port N --plaid-port N`.

Used by `paysaga up`.
"""

from __future__ import annotations

import argparse
import signal
import threading

from paysaga.config.logging import configure_logging
from paysaga.config.startup import settings_or_exit
from paysaga.sandbox import persistence
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.settings import SandboxSettings


def main(argv: list[str] | None = None) -> None:
    settings = settings_or_exit("python -m paysaga.sandbox")
    parser = argparse.ArgumentParser(prog="python -m paysaga.sandbox")
    parser.add_argument("--stripe-port", type=int, default=settings.sandbox_stripe_port)
    parser.add_argument("--braintree-port", type=int, default=settings.sandbox_braintree_port)
    parser.add_argument("--plaid-port", type=int, default=settings.sandbox_plaid_port)
    parser.add_argument("--settle-after", type=float, default=2.0, help="seconds; 0 = on demand")
    args = parser.parse_args(argv)
    configure_logging(settings.log_format, settings.log_level)
    servers = SandboxServers(
        SandboxSettings.from_settings(settings, settle_after_s=args.settle_after),
        stripe_port=args.stripe_port,
        braintree_port=args.braintree_port,
        plaid_port=args.plaid_port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    state_file = settings.data_dir.resolve() / "sandbox-state.pickle"
    servers.start()  # before the stack starts workers, so nothing is charged before load
    apps = servers.apps()
    persistence.load(apps, state_file)
    try:
        stop.wait()
    finally:
        servers.stop()
        persistence.save(apps, state_file)  # after stop: no request is mid-flight


if __name__ == "__main__":
    main()
