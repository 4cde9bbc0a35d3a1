"""Engine addresses that cannot work are one clear error before any connection."""

from __future__ import annotations

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
