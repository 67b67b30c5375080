"""One error type for bad input, and the one way every command-line entry point reports it.

Bad input (a corrupt wav, a wrong param, a model over a board's budget) is a `KwsError`
with a one-line message that names the file, field or board. `run_main` prints that line
to stderr and exits non-zero: never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ml import redact


class KwsError(Exception):
    """Bad input or a failed gate; the message is one line naming the culprit."""

    exit_code = 1


def setup_logging() -> None:
    level = os.environ.get("KWS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(levelname).1s %(name)s: %(message)s")
    if level != "DEBUG":  # TF's own info lines (SavedModel renames, "Assets written to")
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.WARNING)
    redact.install()  # no user:password@ of a URI in any log line


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a module's main; turn KwsError and Ctrl-C into a one-line error and exit code."""
    setup_logging()
    try:
        code = main(argv)
    except KwsError as exc:
        print(f"error: {redact.redact(str(exc))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
