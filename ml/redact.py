"""Credentials never leave the process: the one helper that redacts them from URIs and text.

A tracking URI or DVC remote URL may carry a user and password
(`https://alice:s3cret@mlflow.example.com/`). Every place that logs, prints or writes a URI
passes it through `redact_uri`; `redact` does the same for any text that may quote one (an
exception message), and `RedactingFilter` for every log record of a handler.

    python -m ml.redact < text     # stdin to stdout, redacted (for make recipes)
"""

from __future__ import annotations

import logging
import re
import sys

# scheme://userinfo@ ; userinfo stops at the first '/', whitespace or quote, and the last '@'
# before the host wins (a password may contain '@' when the client did not encode it).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s'\"<>]*@)")
# ...?token=..., &password=... in query strings
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:access_token|token|password|passwd|secret|sig|signature|key|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&\s'\"]+",
    re.IGNORECASE,
)
MASK = "***"


def redact(text: str, *uris: str) -> str:
    """`text` with the user:password@ of every URI, and secret query values, replaced by ***.

    The user info of each of `uris` is also masked wherever it appears without its scheme
    (a library's message may quote just `user:password@host`).
    """
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    for uri in uris:
        m = _USERINFO.search(str(uri))
        if m:
            userinfo = m["userinfo"][:-1]
            for secret in sorted({userinfo, *userinfo.split(":")[1:]}, key=len, reverse=True):
                if secret:
                    text = text.replace(secret, MASK)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{MASK}", text)


def redact_uri(uri: str) -> str:
    """A URI safe to log or write: `https://u:p@host/x` -> `https://***@host/x`."""
    return redact(str(uri))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, with its arguments filled in, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of `logger` (the root logger by default)."""
    logger = logger if logger is not None else logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def main() -> int:
    for line in sys.stdin:
        sys.stdout.write(redact(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
