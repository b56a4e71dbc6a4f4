"""The server's log lines: plain text (default) or one JSON object per line
(``serve --log-format json``), each carrying the id of the request being answered.

The request id (the ``x-amzn-RequestId`` of the answer, the audit record's
``requestID``) is set by the request path in :data:`REQUEST_ID` before anything is
logged for that request; a line logged outside any request has none. A JSON line:
``{"time": "2026-12-05T09:30:01.123Z", "level": "ERROR", "logger": "openkms.server",
"message": "...", "request_id": "...", "process": 1234, "exception": "..."}``. Nothing
logged by the server holds plaintext, key material or secrets; the formatter adds only
the fields above.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

#: The request being answered on this thread (or event loop turn).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "openkms_request_id", default=None
)
FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
            "process": record.process,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _RequestIdText(logging.Formatter):
    """The plain format, with ``[request <id>]`` after the message inside a request."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return text if request_id is None else f"{text} [request {request_id}]"


def configure(log_format: str = "text") -> None:
    """Set the root logger's one handler (stderr) to ``log_format``; called by ``serve``
    and by each worker process (a fresh interpreter)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if log_format == "json" else _RequestIdText(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every start
