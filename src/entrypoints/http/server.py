"""The HTTP server around the application: aiohttp's own refusals answered as problem+json.

aiohttp answers a request it cannot parse (a header or request line over its limit, a bad
request line, broken framing) before any route sees it, with a ``text/plain`` body that quotes
the offending input and an ERROR log line with a traceback, once per such request. Here the
connection's :class:`ProblemRequestHandler` answers those with ``application/problem+json``
(``/problems/header-too-large``, 431, or ``/problems/bad-request``, 400) whose detail never
repeats the input, and logs one INFO line. Run the app with :class:`ProblemAppRunner` (what
``media-core serve`` and :func:`run` do); a host that runs its own ``AppRunner`` keeps
aiohttp's default for these requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_request import BaseRequest

from entrypoints.http.problems import HttpProblem, problem_response

log = logging.getLogger("entrypoints.http.access")


def refusal_problem(exc: BaseException | None) -> HttpProblem:
    """The problem that answers a request aiohttp refused while parsing it."""
    if isinstance(exc, LineTooLong):
        return HttpProblem("header-too-large")
    return HttpProblem("bad-request")


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering its own parse errors as problem+json."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request aiohttp could not parse or serve (never quotes the input)."""
        if status >= 500 or not isinstance(exc, BadHttpMessage):
            # Not the client's doing: a failure in aiohttp or under it, worth its traceback.
            self.logger.error("error serving a request", exc_info=exc)
            problem = HttpProblem("internal-error")
            status = problem.status
        else:
            problem = refusal_problem(exc)
            log.info(
                "refused before routing: %s %s (%s)",
                problem.status,
                problem.code,
                type(exc).__name__,
                extra={"status": problem.status, "route": "unparsed"},
            )
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was sent already; the connection is closed")
        response = problem_response(
            status=problem.status, code=problem.code, title=problem.title, detail=problem.detail
        )
        response.force_close()  # the stream's framing is unknown after a parse error
        return response


class ProblemServer(web.Server):
    """A ``web.Server`` whose connections are :class:`ProblemRequestHandler`\\ s."""

    def __call__(self) -> web.RequestHandler:
        """A handler for one new connection."""
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """``web.AppRunner`` serving through a :class:`ProblemServer`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application builds its Server itself (with its request factory and handler
        # arguments); only the per-connection handler class changes, and it adds no state.
        server.__class__ = ProblemServer
        return server


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float = 60.0,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM (like ``web.run_app``).

    ``on_listening`` is called once the socket accepts connections (``serve`` prints its banner).
    """

    async def main() -> None:
        runner = ProblemAppRunner(
            app, handle_signals=True, access_log=None, shutdown_timeout=shutdown_timeout
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            # What startup built (modules, app, pools) lives as long as the process: keep the
            # collector's full passes from walking it again and again under load.
            gc.freeze()
            if on_listening is not None:
                on_listening()
            await asyncio.Event().wait()  # a signal ends the loop with GracefulExit
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(main())
