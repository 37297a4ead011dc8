"""A loopback TCP proxy that resets a connection once it has carried a set number of bytes.

Interrupts an upload mid-file, deterministically: the client sees its connection reset, the
server keeps what arrived before. Runs on threads, so a test drives it from synchronous code
while a child process talks through it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.support.prism import free_port


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to ``target_port``; while :attr:`cap` is set, each connection is
    reset once it has sent more than ``cap`` bytes upstream. :attr:`cuts` counts the resets."""

    def __init__(self, target_port: int, cap: int | None = None) -> None:
        self.target_port = target_port
        self.cap = cap
        self.cuts = 0
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                cap = self.cap
                if upstream and cap is not None and sent + len(data) > cap:
                    sink.sendall(data[: max(0, cap - sent)])
                    self.cuts += 1
                    # SO_LINGER 0: close with a reset, as a dropped network would.
                    for end in (source, sink):
                        end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        # shutdown, not only close: the other direction's thread still holds it.
                        end.shutdown(socket.SHUT_RDWR)
                    break
                sink.sendall(data)
                sent += len(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()
