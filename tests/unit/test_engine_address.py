"""Engine addresses that cannot work are one clear error before any connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.errors import EngineError
from hostform.runtime.engine import Engine
from hostform.runtime.ssh import ssh_argv


def test_an_address_urllib_cannot_parse_is_one_engine_error() -> None:
    with pytest.raises(EngineError, match=r"engine address 'http://\[bad': Invalid IPv6 URL"):
        Engine("http://[bad")


def test_ssh_addresses_become_ssh_arguments() -> None:
    assert ssh_argv("ssh://deploy@host.example:2222") == [
        "ssh",
        "-l",
        "deploy",
        "-p",
        "2222",
        "--",
        "host.example",
        "docker system dial-stdio",
    ]
    assert ssh_argv("ssh://alias") == ["ssh", "--", "alias", "docker system dial-stdio"]
    for bad in ("ssh://host:port", "ssh://", "ssh://u:pw@host", "ssh://host/path"):
        with pytest.raises(EngineError):
            ssh_argv(bad)


def test_reads_overlap_on_remote_engines_only() -> None:
    assert Engine("unix:///var/run/docker.sock").read_parallelism == 1
    assert Engine("tcp://127.0.0.1:9").read_parallelism > 8  # constructing does not connect
    assert Engine("ssh://nobody@127.0.0.1:9").read_parallelism == 8


def test_tls_follows_the_docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hostform.runtime.tls import tls_settings

    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    assert tls_settings() is None  # nothing asked for
    with pytest.raises(EngineError, match="needs a CA certificate"):
        tls_settings(verify=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    verified = tls_settings()
    assert verified.verify and verified.ca_cert == str(tmp_path / "ca.pem")
    assert verified.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "")
    assert tls_settings(tls=True).verify is False  # --tls alone: encrypted, not verified
    with pytest.raises(EngineError, match="--tlskey /nonexistent: no such file"):
        tls_settings(tls=True, key="/nonexistent")
