"""Remote engines for the tests: an sshd of the test's own in front of the engine socket,
and a second dockerd listening on TCP with TLS, with keys and certificates made here.

Each is a process this module starts, with its own config, and stops by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_convergence_support import free_port


def need(program: str) -> str:
    found = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        message = f"{program} is missing: run scripts/remote-deps"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this module started, by its pid."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds}s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class SSHEngine:
    url: str  # ssh://root@127.0.0.1:PORT
    bin_dir: Path  # first on PATH: `ssh` reading this test's client config

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}"}


@contextlib.contextmanager
def sshd(workdir: Path) -> Iterator[SSHEngine]:
    """Debian's sshd on a loopback port, key auth only, with a host key and a client key made here.

    ssh reads its user config from the passwd home, not $HOME; the client side is an `ssh` on
    PATH that runs the real one with this test's config (-F), as an operator's ~/.ssh/config would."""
    sshd_bin, keygen, ssh_bin = need("sshd"), need("ssh-keygen"), need("ssh")
    workdir.mkdir(parents=True, exist_ok=True)
    for key in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / key)], check=True)
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\n"
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPidFile none\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nX11Forwarding no\nAllowTcpForwarding no\nLogLevel INFO\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd insists on
    host_pub = (workdir / "host_key.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (workdir / "ssh_config").write_text(
        f"Host *\n  IdentityFile {workdir / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {workdir / 'known_hosts'}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  LogLevel ERROR\n"
    )
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {ssh_bin} -F {workdir / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    log = workdir / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
    try:
        wait_for_port(port, proc, log)
        yield SSHEngine(f"ssh://root@127.0.0.1:{port}", bin_dir)
    finally:
        stop(proc)


@dataclass(frozen=True)
class TLSEngine:
    url: str  # tcp://127.0.0.1:PORT, TLS with client certificates
    certs: Path  # ca.pem, cert.pem, key.pem (the DOCKER_CERT_PATH layout)
    socket: Path  # the same engine's unix socket, for the test's own setup and checks


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    openssl = need("openssl")
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hostform test CA",
        "-keyout", "ca-key.pem", "-out", "ca.pem")  # fmt: skip
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        (folder / f"{who}.ext").write_text(ext)
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=hostform test {who}",
            "-keyout", f"{who}-key.pem", "-out", f"{who}.csr")  # fmt: skip
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}.pem")  # fmt: skip
    (folder / "cert.pem").write_bytes((folder / "client.pem").read_bytes())
    (folder / "key.pem").write_bytes((folder / "client-key.pem").read_bytes())


@contextlib.contextmanager
def tls_dockerd(workdir: Path) -> Iterator[TLSEngine]:
    """A second dockerd of the test's own: its own data, exec root, pid file and unix socket, TCP
    with TLS (client certificates) on a loopback port; no iptables rules, and a default bridge of
    its own, so it leaves the main engine's networking alone (a dockerd started with `--bridge
    none` in this network namespace deletes the main engine's docker0). Stopped by its pid."""
    dockerd = need("dockerd")
    certs = workdir / "certs"
    make_certificates(certs)
    port = free_port()
    sock = workdir / "docker.sock"
    log = workdir / "dockerd.log"
    bridge = f"hftls{port}"
    args = [
        dockerd,
        "--data-root", str(workdir / "data"),
        "--exec-root", str(workdir / "exec"),
        "--pidfile", str(workdir / "dockerd.pid"),
        "-H", f"unix://{sock}",
        "-H", f"tcp://127.0.0.1:{port}",
        "--tlsverify",
        "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / "server.pem"),
        "--tlskey", str(certs / "server-key.pem"),
        "--bridge", bridge,
        "--iptables=false",
        "--ip-masq=false",
    ]  # fmt: skip
    ip = need("ip")
    subprocess.run([ip, "link", "add", bridge, "type", "bridge"], check=True, capture_output=True)
    try:
        subprocess.run([ip, "addr", "add", "10.214.0.1/24", "dev", bridge], check=True, capture_output=True)
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(port, proc, log)
            yield TLSEngine(f"tcp://127.0.0.1:{port}", certs, sock)
        finally:
            stop(proc)
    finally:
        subprocess.run([ip, "link", "del", bridge], capture_output=True)
