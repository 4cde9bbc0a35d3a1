"""A latency front to the local engine: TCP on loopback, each direction delayed, exchanges counted.

    python bench/latency.py [--delay-ms 25] [--socket /var/run/docker.sock]

prints `tcp://127.0.0.1:PORT` and serves until Ctrl-C. bench/plan_remote.py starts one in
a thread of its own. Every chunk read from either side is written to the other side
`delay` later (a round trip costs 2 x delay), in order, without holding back the chunks
behind it. An exchange is a request and its answer: counted each time the client sends
after the engine has answered (or first on a connection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time


class LatencyProxy:
    def __init__(self, socket_path: str = "/var/run/docker.sock", delay: float = 0.025) -> None:
        self.socket_path = socket_path
        self.delay = delay
        self.exchanges = 0
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> LatencyProxy:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            writer.close()
            return
        answered = [True]  # the engine has answered since the client last sent

        def on_request() -> None:
            if answered[0]:
                self.exchanges += 1
                answered[0] = False

        def on_answer() -> None:
            answered[0] = True

        await asyncio.gather(
            self._pipe(reader, up_writer, on_request),
            self._pipe(up_reader, writer, on_answer),
            return_exceptions=True,
        )

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, seen: object) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await src.read(65536)
                if data:
                    seen()  # type: ignore[operator]
                queue.put_nowait((time.monotonic() + self.delay, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.CancelledError):
            sender.cancel()
        finally:
            with contextlib.suppress(Exception):
                dst.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--socket", default="/var/run/docker.sock")
    args = parser.parse_args()
    proxy = LatencyProxy(args.socket, args.delay_ms / 1000).start()
    print(proxy.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print(f"{proxy.exchanges} exchanges on {proxy.connections} connections")
        proxy.stop()


if __name__ == "__main__":
    main()
