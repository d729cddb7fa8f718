"""A minimal HTTP/1.1 keep-alive client connection for the benchmarks' load generators.

A general client (httpx) spends more CPU than the servers under test on this 2-core machine, and every
cycle the load takes is one the server and its databases do not get.
"""

from __future__ import annotations

import asyncio
import contextlib


class Http1:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: bytes) -> tuple[int, bytes]:
        return await self._exchange([b"GET " + target + b" HTTP/1.1\r\nhost: " + self.host.encode() + b"\r\n\r\n"])

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        lines = [f"POST {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return await self._exchange([("\r\n".join(lines) + "\r\n\r\n").encode(), body])

    async def _exchange(self, request: list[bytes]) -> tuple[int, bytes]:
        """Send one request, read its response (content-length or chunked): (status, body)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.writelines(request)
        status = int((await self.reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readline()).strip(), 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return status, b"".join(parts)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
