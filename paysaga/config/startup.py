"""Start-up of every long-running entry point: settings valid, or one message and exit 2.

The message names every bad setting (see settings.configuration_error) and is printed
before anything connects or listens, never as a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from paysaga.config.settings import Settings, get_settings
from paysaga.domain.errors import ConfigurationError

EXIT_CONFIGURATION = 2


def settings_or_exit(prog: str) -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        print(f"{prog}: configuration error: {exc.message}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIGURATION) from None


def exit_process(code: int) -> NoReturn:
    """Exit; once the Temporal SDK is loaded, without interpreter finalization.

    See config.temporal.exit_skipping_finalization. A process refused at start-up never
    imported the SDK, and need not pay for importing it just to leave.
    """
    if "temporalio" in sys.modules:
        from paysaga.config.temporal import exit_skipping_finalization

        exit_skipping_finalization(code)
    sys.exit(code)
