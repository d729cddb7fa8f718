"""A real HTTP server on a free loopback port, served from a thread (``http.server``)."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class PeerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PeerHTTPServer

    @property
    def peer(self) -> Any:
        return self.server.peer

    def log_message(self, format: str, *args: Any) -> None:  # quiet; tests assert on state, not stderr
        pass

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    def route(self) -> str:
        return urlsplit(self.path).path

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.wfile.write(data)


class PeerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    peer: Any


class PeerServer:
    """Start with ``start()``; ``url`` is its base URL; ``stop()`` shuts it down."""

    handler: type[PeerHandler]

    def __init__(self) -> None:
        self._httpd = PeerHTTPServer(("127.0.0.1", 0), self.handler)
        self._httpd.peer = self
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self.lock = threading.Lock()

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> PeerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
