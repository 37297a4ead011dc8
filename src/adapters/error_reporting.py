"""``ErrorReporter`` adapters: unexpected exceptions to the log, and optionally to Sentry.

``LoggingErrorReporter`` is the default: one ERROR record with the traceback and the context
as structured fields. ``SentryErrorReporter`` sends the same to Sentry with its own client (the
``sentry`` extra: ``pip install 'media-core[sentry]'``), and ``FanOutErrorReporter`` gives each
error to several reporters, so Sentry never replaces the log line.

The context is built by the caller from ids and names only (request id, route template, event
name); headers, bodies and query strings are never part of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from media_core.ports import ErrorReporter

log = logging.getLogger("media_core.errors")


class LoggingErrorReporter:
    """Logs each error at ERROR with its traceback; the context goes into the record's fields."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Log ``error`` with ``context``; never raises."""
        # logging never raises (a failing handler calls handleError), so no guard is needed.
        self._log.error(
            "unexpected %s in %s",
            type(error).__name__,
            context.get("where", "unknown"),
            exc_info=(type(error), error, error.__traceback__),
            extra={"context": {key: str(value) for key, value in context.items()}},
        )


class FanOutErrorReporter:
    """Gives every error to each reporter in turn; one failing reporter stops no other."""

    def __init__(self, reporters: Sequence[ErrorReporter]) -> None:
        self._reporters = tuple(reporters)

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Report ``error`` to every reporter."""
        for reporter in self._reporters:
            try:
                reporter.report(error, context)
            except Exception:  # noqa: S112 - one reporter's failure must not stop the others
                continue


class CountingErrorReporter:
    """Calls ``count(where)`` for each error, then hands it on (for an error-rate metric)."""

    def __init__(self, inner: ErrorReporter, count: Callable[[str], None]) -> None:
        self._inner = inner
        self._count = count

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Count, then report ``error``."""
        try:
            self._count(str(context.get("where", "unknown")))
        finally:
            self._inner.report(error, context)


class SentryErrorReporter:
    """Sends errors to Sentry through a client of its own (the process-wide SDK state is untouched).

    Only the exception and ``context`` (under the ``media_core`` context key; ``where`` and
    ``route`` also as tags) are sent: no request data, personal data left off (the SDK's
    default), and no default integrations, so nothing else is captured behind the operator's
    back. ``options`` go to ``sentry_sdk.Client`` (tests pass a ``transport``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        environment: str | None = None,
        release: str | None = None,
        **options: Any,
    ) -> None:
        import sentry_sdk  # noqa: PLC0415 - optional dependency, imported only when configured

        self._sdk = sentry_sdk
        self._client = sentry_sdk.Client(
            dsn=dsn,
            environment=environment,
            release=release,
            default_integrations=False,
            auto_enabling_integrations=False,
            **options,
        )

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Capture ``error`` with ``context``; never raises."""
        try:
            with self._sdk.new_scope() as scope:
                scope.set_client(self._client)
                scope.set_context("media_core", {k: str(v) for k, v in context.items()})
                for tag in ("where", "route", "provider"):
                    if tag in context:
                        scope.set_tag(tag, str(context[tag]))
                scope.capture_exception(error)
        except Exception:
            log.warning("could not report an error to Sentry", exc_info=True)

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds."""
        self._client.flush(timeout=timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Flush and stop the client."""
        self._client.close(timeout=timeout)


def sentry_available() -> bool:
    """True if the ``sentry`` extra (``sentry-sdk``) is installed."""
    try:
        import sentry_sdk  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def build_error_reporter(
    sentry_dsn: str | None,
    *,
    environment: str | None = None,
    release: str | None = None,
    count: Callable[[str], None] | None = None,
) -> ErrorReporter:
    """The log reporter, plus Sentry when ``sentry_dsn`` is set and the SDK is installed.

    A DSN without the SDK logs one warning and keeps the log reporter: error tracking must not
    stop the service from starting.
    """
    reporters: list[ErrorReporter] = [LoggingErrorReporter()]
    if sentry_dsn:
        if sentry_available():
            reporters.append(
                SentryErrorReporter(sentry_dsn, environment=environment, release=release)
            )
        else:
            log.warning("SENTRY_DSN is set but sentry-sdk is not installed; errors are only logged")
    reporter: ErrorReporter = (
        reporters[0] if len(reporters) == 1 else FanOutErrorReporter(reporters)
    )
    return CountingErrorReporter(reporter, count) if count is not None else reporter
