"""The control socket and the metrics endpoint, served from the daemon's one poll loop.

Both are tiny request/response protocols over stream sockets. Every socket, listening
or connected, is non-blocking and registered in one epoll instance of our own, whose
single fd sits in the daemon's poll loop: a slow or stuck client costs the packet path
nothing, and the loop never has to rebuild its poll set for a connection.

The control protocol: the client sends `status\\n`, the daemon answers one JSON
document and closes. The socket is a unix one next to the pidfile, mode 0660, owned
by the daemon's user: root and that user's group may ask.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("nfdhcpd")

#: The request so far in; the whole response out, or None to read more.
Handler = Callable[[bytes], bytes | None]
SOCKET_NAME = "nfdhcpd.sock"
#: Bounds on what a client may hold: requests are one line or one HTTP header.
_MAX_REQUEST = 8192
_MAX_CLIENTS = 16
_CLIENT_SECONDS = 5.0


def control_path(pidfile: str) -> str:
    """Where the control socket of the daemon using `pidfile` lives."""
    return os.path.join(os.path.dirname(pidfile) or "/", SOCKET_NAME)


class _Client:
    __slots__ = ("deadline", "handler", "inbuf", "outbuf", "sock")

    def __init__(self, sock: socket.socket, handler: Handler) -> None:
        self.sock = sock
        self.handler = handler
        self.inbuf = b""
        self.outbuf = memoryview(b"")
        self.deadline = time.monotonic() + _CLIENT_SECONDS


class ControlServer:
    """Listening sockets and their clients behind one epoll fd (see the module doc)."""

    def __init__(self) -> None:
        self._epoll = select.epoll(flags=select.EPOLL_CLOEXEC)
        self._listeners: dict[int, tuple[socket.socket, Handler]] = {}
        self._clients: dict[int, _Client] = {}

    def fileno(self) -> int:
        return self._epoll.fileno()

    def fds(self) -> list[int]:
        """The descriptors to keep open across daemonizing (clients come later)."""
        return [self._epoll.fileno(), *self._listeners]

    def listen(self, sock: socket.socket, handler: Handler) -> None:
        sock.setblocking(False)
        self._listeners[sock.fileno()] = (sock, handler)
        self._epoll.register(sock.fileno(), select.EPOLLIN)

    def service(self) -> None:
        """Do whatever is ready, without blocking; call when `fileno()` is readable."""
        for fd, events in self._epoll.poll(0):
            listener = self._listeners.get(fd)
            if listener is not None:
                self._accept(*listener)
                continue
            client = self._clients.get(fd)
            if client is None:
                continue
            try:
                if events & select.EPOLLIN:
                    self._read(client)
                elif events & select.EPOLLOUT:
                    self._write(client)
                else:  # EPOLLHUP or EPOLLERR alone
                    self._drop(client)
            except OSError as exc:
                log.debug("control client: %s", exc)
                self._drop(client)

    def _accept(self, sock: socket.socket, handler: Handler) -> None:
        now = time.monotonic()
        for client in [c for c in self._clients.values() if c.deadline < now]:
            self._drop(client)
        while True:
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of fds, say: the others keep being served
                log.warning("control: cannot accept: %s", exc)
                return
            if len(self._clients) >= _MAX_CLIENTS:
                self._drop(next(iter(self._clients.values())))  # the oldest
            conn.setblocking(False)
            self._clients[conn.fileno()] = _Client(conn, handler)
            self._epoll.register(conn.fileno(), select.EPOLLIN)

    def _read(self, client: _Client) -> None:
        data = client.sock.recv(_MAX_REQUEST)
        if not data:  # closed before a whole request
            self._drop(client)
            return
        client.inbuf += data
        try:
            response = client.handler(client.inbuf)
        except Exception:
            # A bug in an answer must not take the daemon down with it.
            log.exception("control: internal error answering a request")
            self._drop(client)
            return
        if response is None:
            if len(client.inbuf) > _MAX_REQUEST:
                self._drop(client)
            return
        client.outbuf = memoryview(response)
        self._epoll.modify(client.sock.fileno(), select.EPOLLOUT)
        self._write(client)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
        except BlockingIOError:
            return
        client.outbuf = client.outbuf[sent:]
        if not client.outbuf:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        fd = client.sock.fileno()
        self._clients.pop(fd, None)
        with contextlib.suppress(OSError):
            self._epoll.unregister(fd)
        client.sock.close()

    def close(self) -> None:
        for client in list(self._clients.values()):
            self._drop(client)
        for sock, _handler in self._listeners.values():
            if sock.family == socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    os.unlink(sock.getsockname())
            sock.close()
        self._listeners.clear()
        self._epoll.close()


def listen_tcp(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        raise OSError(f"metrics: cannot listen on {address}:{port}: {exc.strerror}") from None
    return sock


def listen_unix(path: str) -> socket.socket:
    """A unix stream socket at `path`, replacing a stale one (the caller holds the queues,
    so no other daemon of this config is using it)."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(f"{path} exists and is not a socket")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    umask = os.umask(0o117)  # created 0660: no chmod by name afterwards, no link to follow
    try:
        sock.bind(path)
        sock.listen(8)
    except OSError as exc:
        sock.close()
        raise OSError(f"control socket {path}: {exc.strerror}") from None
    finally:
        os.umask(umask)
    return sock


def status_handler(snapshot: Callable[[], dict[str, Any]]) -> Handler:
    """`status\\n` in, the JSON of `snapshot()` out; anything else gets an error."""

    def answer(request: bytes) -> bytes | None:
        line, complete, _ = request.partition(b"\n")
        if not complete:
            return None
        if line.strip() != b"status":
            return json.dumps({"error": "unknown request; try 'status'"}).encode() + b"\n"
        return json.dumps(snapshot()).encode() + b"\n"

    return answer


def query(path: str, request: str = "status", timeout: float = 5.0) -> dict[str, Any]:
    """Ask the daemon listening at `path` (the client side, for `nfdhcpd status`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(request.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer
