"""A tiny TCP forwarder for the tests: python tcp_forward.py LISTEN_IP:PORT TARGET_IP:PORT.

Run inside a network namespace (nsenter --net=...), it lets an engine there reach a
registry on the host through a veth pair under the registry's own name
(127.0.0.1:PORT, which engines trust over plain HTTP). It stops when killed.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
    _pipe(upstream, client)


def main() -> None:
    listen_ip, _, listen_port = sys.argv[1].rpartition(":")
    target_ip, _, target_port = sys.argv[2].rpartition(":")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((listen_ip, int(listen_port)))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, (target_ip, int(target_port))), daemon=True).start()


if __name__ == "__main__":
    main()
