"""Logging for the service: one JSON object per line (or plain text), a request id, no secrets.

- :data:`REQUEST_ID` is a context variable the HTTP layer sets for each request; every log
  record made while the request is handled, including the core's (``media_core``), carries it as
  ``request_id``, because asyncio copies the context into the tasks a handler starts.
- :class:`RedactingFilter` rewrites every record before it is formatted: ``Authorization`` values,
  ``*-Signature`` header values, ``token=``/``signature=``/``sig=`` query parameters, JWTs, and
  any configured secret (JWT and webhook secrets, provider credentials) become ``[REDACTED]``.
  It runs on the handler, so it covers every logger, and on tracebacks too.
- :func:`configure_logging` installs one handler on the root logger; ``serve`` calls it.
- :func:`gather_stats` and :func:`format_stats` make the table of ``media-core stats``.

JSON lines hold ``time``, ``level``, ``logger``, ``message``, ``request_id`` and every ``extra``
field a caller passed (``upload_id``, ``provider``, ``route``, ``status``, ``seconds``...).
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from attrs import frozen

from media_core.model import UploadStatus
from media_core.ports import StorageStatistics, StorageTally

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "media_core_request_id", default=None
)
"""The id of the request being handled, or None outside a request."""

REDACTED = "[REDACTED]"

_PATTERNS = (
    # Authorization / Proxy-Authorization headers, in "Name: value", "'name': 'value'" or JSON.
    re.compile(r"""(?i)(\b(?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)([^'",}\r\n]+)"""),
    # Any *-Signature header (Mux-Signature, Webhook-Signature, Media-Core-Signature...); their
    # values hold commas ("t=…,v1=…") but no spaces, except lists of signatures (below).
    re.compile(r"""(?i)([\w-]*signature['"]?\s*[:=]\s*['"]?)([^'"}\s]+)"""),
    # Signature elements wherever they appear: v1=<hex>, sig1=<hex>, "v1,<base64>".
    re.compile(r"(?i)(\b(?:v\d+|sig\d+)[=,])([A-Za-z0-9+/=_-]{16,})"),
    # Credentials in query strings and form bodies.
    re.compile(
        r"(?i)([?&;](?:token|access_token|signature|sig|secret|api_key|apikey|key)=)([^&#\s'\"]+)"
    ),
    # Bare bearer credentials and JWTs wherever they appear.
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"()\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
)

_RESERVED = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "request_id",
    }
)
"""Attributes every LogRecord has; anything else on a record came from ``extra``."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials, signatures and the given ``secrets`` replaced by a marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
    return text


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (from :data:`REQUEST_ID`) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record; never drops it."""
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class RedactingFilter(logging.Filter):
    """Removes credentials from the message, its arguments, extra fields and the traceback.

    ``secrets`` are exact values to hide wherever they appear (only values of 8 characters or
    more, so a short setting cannot blank out ordinary words).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s and len(s) >= 8}, key=len))[::-1]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have rather than lose the line
            message = str(record.msg)
        record.msg = redact(message, self._secrets)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED:
                record.__dict__[key] = self._clean(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
            record.exc_info = None  # formatters print exc_text; the raw objects may hold secrets
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self._secrets)
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize ``record``; values JSON cannot hold become strings."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message key=value...``, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The classic line, with extra fields appended as ``key=value``."""
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        line = super().format(record)
        extras = [
            f"{key}={value}" for key, value in record.__dict__.items() if key not in _RESERVED
        ]
        if not extras:
            return line
        head, _, tail = line.partition("\n")
        return f"{head} {' '.join(extras)}" + (f"\n{tail}" if tail else "")


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text``; ``auto`` means text on a terminal and JSON anywhere else."""
    if log_format != "auto":
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def build_handler(
    stream: TextIO, *, log_format: str = "json", secrets: Iterable[str] = ()
) -> logging.Handler:
    """A stream handler with the request-id and redacting filters and the chosen formatter."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(secrets))
    chosen = resolve_format(log_format, stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.set_name("media-core")
    return handler


def configure_logging(
    level: str = "INFO",
    log_format: str = "auto",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records through one handler on the root logger (replacing ours).

    Called once by ``serve``; a host application keeps its own logging and may instead add
    ``RequestIdFilter`` and ``RedactingFilter`` to its handlers.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "media-core":
            root.removeHandler(existing)
    handler = build_handler(stream or sys.stderr, log_format=log_format, secrets=secrets)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's own access log would duplicate ours (and print raw query strings).
    logging.getLogger("aiohttp.access").propagate = False
    return handler


# --- the operator's figures (``media-core stats``) --------------------------------------------


@frozen
class StatsReport:
    """What ``media-core stats`` prints: the storage tallies and recent processing times."""

    tallies: tuple[StorageTally, ...]
    ready_seconds: tuple[float, ...]
    """Creation → READY, for the most recent READY uploads."""
    processing_seconds: tuple[float, ...]
    """Upload complete → READY, where a PROCESSING step was seen."""

    @property
    def finished(self) -> tuple[int, int]:
        """(ready, failed) uploads stored now; cancelled ones are apart (:attr:`cancelled`)."""
        ready = sum(t.count for t in self.tallies if t.status is UploadStatus.READY)
        failed = sum(t.count - t.cancelled for t in self.tallies if t.status is UploadStatus.FAILED)
        return ready, failed

    @property
    def cancelled(self) -> int:
        """Uploads their owner cancelled: neither a success nor a failure of the pipeline."""
        return sum(t.cancelled for t in self.tallies if t.status is UploadStatus.FAILED)

    @property
    def success_rate(self) -> float | None:
        """ready / (ready + failed), or None before anything finished."""
        ready, failed = self.finished
        return ready / (ready + failed) if ready + failed else None

    def as_json(self) -> dict[str, Any]:
        """The same figures for scripts."""
        return {
            "storage": [
                {
                    "provider": t.provider,
                    "status": t.status.value,
                    "videos": t.count,
                    "bytes": t.bytes,
                }
                for t in self.tallies
            ],
            "successRate": self.success_rate,
            "finished": {
                "ready": self.finished[0],
                "failed": self.finished[1],
                "cancelled": self.cancelled,
            },
            "readySeconds": _percentiles(self.ready_seconds),
            "processingSeconds": _percentiles(self.processing_seconds),
        }


async def gather_stats(source: StorageStatistics, *, recent: int = 1000) -> StatsReport:
    """Tallies (one grouped query) and the times of the ``recent`` latest READY uploads."""
    tallies = await source.storage_tallies()
    ready = await source.recent_ready(recent)
    ready_seconds = tuple(
        (u.ready_at - u.created_at).total_seconds() for u in ready if u.ready_at is not None
    )
    processing_seconds = tuple(
        (u.ready_at - u.uploaded_at).total_seconds()
        for u in ready
        if u.ready_at is not None and u.uploaded_at is not None and u.uploaded_at < u.ready_at
    )
    return StatsReport(
        tallies=tallies, ready_seconds=ready_seconds, processing_seconds=processing_seconds
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _percentiles(values: Sequence[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {
        "count": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
    }


def human_bytes(size: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_seconds(seconds: float) -> str:
    """``95.0`` → ``1m35s``; ``0.25`` → ``0.25s``."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_stats(report: StatsReport) -> str:
    """The report as a table and a few lines, for a terminal."""
    header = ("provider", "status", "videos", "bytes", "size")
    rows = [
        (t.provider, t.status.value, str(t.count), str(t.bytes), human_bytes(t.bytes))
        for t in report.tallies
    ]
    total_count = sum(t.count for t in report.tallies)
    total_bytes = sum(t.bytes for t in report.tallies)
    rows.append(("total", "", str(total_count), str(total_bytes), human_bytes(total_bytes)))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        right = [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(left + right).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *map(line, rows), ""]
    ready, failed = report.finished
    rate = report.success_rate
    out.append(
        "success rate: "
        + (
            f"{rate * 100:.1f}% ({ready} ready of {ready + failed} finished)"
            if rate is not None
            else "n/a (nothing finished yet)"
        )
    )
    out.append(f"cancelled: {report.cancelled} (not counted as failures)")
    for label, values in (
        ("created → ready", report.ready_seconds),
        ("uploaded → ready", report.processing_seconds),
    ):
        if values:
            p50, p95, p99 = (percentile(values, q) for q in (0.5, 0.95, 0.99))
            out.append(
                f"{label}: p50 {human_seconds(p50)}  p95 {human_seconds(p95)}  "
                f"p99 {human_seconds(p99)}  (last {len(values)} ready)"
            )
        else:
            out.append(f"{label}: n/a (no ready uploads)")
    return "\n".join(out)
