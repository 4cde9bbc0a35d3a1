"""The live -> canonical reader (runtime.live_spec): a container read back from docker inspect equals
the canonical spec of the declaration that would make it, less what its image and the tools'
bookkeeping contribute; a difference shows up as a field the planner explains."""

from __future__ import annotations

import copy
from typing import Any

from hostform.declare.canonical import canonical_of
from hostform.declare.names import Naming
from hostform.declare.schema import ContainerSpec
from hostform.declare.secrets import Secret
from hostform.declare.spec import NetworkSpec, plain_of
from hostform.plans.diff import _intent
from hostform.runtime.live_spec import live_files, live_spec

KEY = b"k" * 16
NAMING = Naming("shop")
NETWORKS = {"default": NetworkSpec()}
IMAGE = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["sh"],
    "Labels": {"org.opencontainers.image.title": "busybox"},
    "Volumes": {"/data": {}},
}

# what docker-compose 1.29 makes of a `db` service (trimmed docker inspect)
DB: dict[str, Any] = {
    "Id": "d2445f1c739e" + "0" * 52,
    "Name": "/shop_db_1",
    "Image": "sha256:62a4",
    "Config": {
        "Hostname": "d2445f1c739e",
        "User": "",
        "Env": [
            "POSTGRES_USER=app",
            "POSTGRES_PASSWORD=pw-in-clear",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ],
        "Cmd": ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"],
        "Image": "hostform-test/busybox:1",
        "WorkingDir": "",
        "Entrypoint": None,
        "Labels": {
            "com.docker.compose.project": "shop",
            "com.docker.compose.service": "db",
            "com.docker.compose.container-number": "1",
            "org.opencontainers.image.title": "busybox",
        },
        "Healthcheck": {"Test": ["CMD-SHELL", "nc -z 127.0.0.1 5432"], "Interval": 2000000000, "Retries": 10},
    },
    "HostConfig": {
        "PortBindings": {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15432"}]},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "Memory": 67108864,
        "NanoCpus": 0,
        "PidsLimit": None,
        "CapAdd": None,
        "CapDrop": ["NET_RAW"],
        "ReadonlyRootfs": False,
        "ExtraHosts": None,
        "Tmpfs": {"/run": ""},
    },
    "Mounts": [
        {"Type": "volume", "Name": "shop_db_data", "Destination": "/var/lib/db", "RW": True},
        {"Type": "volume", "Name": "a" * 64, "Destination": "/data", "RW": True},  # the image's VOLUME
        {"Type": "bind", "Source": "/srv/conf", "Destination": "/conf", "RW": False},
    ],
    "NetworkSettings": {"Networks": {"shop_default": {"Aliases": ["db", "d2445f1c739e"]}}},
}

DECLARED = {
    "image": "hostform-test/busybox:1",
    "command": "nc -ll -p 5432 -e /bin/cat",
    "env": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": Secret("pw-in-clear")},
    "ports": ["127.0.0.1:15432:5432"],
    "volumes": ["db_data:/var/lib/db", "/srv/conf:/conf:ro"],
    "tmpfs": ["/run"],
    "restart": "unless-stopped",
    "memory": "64m",
    "cap_drop": ["NET_RAW"],
    "healthcheck": {"test": "nc -z 127.0.0.1 5432", "interval": "2s", "retries": 10},
    "depends_on": {"cache": "started"},
}


def _read(info: dict[str, Any], declared: dict[str, Any] = DECLARED, image: dict[str, Any] = IMAGE) -> dict[str, Any]:
    return live_spec(info, image, plain_of(ContainerSpec.model_validate(declared)), "db", NAMING, NETWORKS, KEY)


def _canonical(declared: dict[str, Any]) -> dict[str, Any]:
    return canonical_of(plain_of(ContainerSpec.model_validate(declared)), KEY, False, [])


def test_a_compose_container_reads_back_as_its_declaration() -> None:
    assert _read(DB) == _canonical(DECLARED)


def test_what_the_image_and_the_tools_contribute_is_left_out() -> None:
    live = _read(DB)
    assert "PATH" not in live["env"]
    assert live["labels"] == {}  # compose's bookkeeping and the image's label
    assert [m["target"] for m in live["volumes"]] == ["/conf", "/var/lib/db"]  # not the image's anonymous /data
    assert live["hostname"] is None  # Docker's default: the short ID
    assert live["networks"] == []  # the default network alone, reached by the service's name


def test_a_secret_is_hashed_never_kept() -> None:
    live = _read(DB)
    assert live["env"]["POSTGRES_PASSWORD"] == {"secret": Secret("pw-in-clear").digest(KEY)}
    assert "pw-in-clear" not in repr(live)


def test_a_live_value_nobody_declared_or_named_secret_is_hashed_never_shown() -> None:
    """A container taken over may hold values set by hand (a password in `docker run -e`). Where
    the declaration does not have the key, or the name says secret and the declared value differs,
    the live value is hashed: a plan shows the field, never the value, and the record keeps no value."""
    info = copy.deepcopy(DB)
    info["Config"]["Env"] += ["API_TOKEN=tok-set-by-hand", "DEBUG=1"]
    declared = {**DECLARED, "env": {**DECLARED["env"], "DB_PASSWORD_HINT": "plain"}}
    info["Config"]["Env"].append("DB_PASSWORD_HINT=hunter2-by-hand")
    live = _read(info, declared)
    assert "tok-set-by-hand" not in repr(live) and "hunter2-by-hand" not in repr(live)
    assert live["env"]["API_TOKEN"] == {"secret": Secret("tok-set-by-hand").digest(KEY)}
    assert live["env"]["DEBUG"] == {"secret": Secret("1").digest(KEY)}  # undeclared: hashed too
    assert live["env"]["DB_PASSWORD_HINT"] == {"secret": Secret("hunter2-by-hand").digest(KEY)}
    reasons = {r.path: (r.before, r.after) for r in _intent(live, _canonical(declared))}
    assert {"env.API_TOKEN", "env.DEBUG", "env.DB_PASSWORD_HINT"} <= set(reasons)
    assert "tok-set-by-hand" not in repr(reasons) and "hunter2-by-hand" not in repr(reasons)
    # a secret-looking name holding exactly its declared plain value stays as it is: no diff
    info["Config"]["Env"][-1] = "DB_PASSWORD_HINT=plain"
    assert _read(info, declared)["env"]["DB_PASSWORD_HINT"] == "plain"


def test_an_image_default_the_declaration_repeats_is_kept() -> None:
    declared = {**DECLARED, "env": {**DECLARED["env"], "PATH": IMAGE["Env"][0].split("=", 1)[1]}}
    assert _read(DB, declared) == _canonical(declared)
    info = copy.deepcopy(DB)
    info["Config"]["Cmd"] = ["sh"]  # the image's own command
    assert _read(info)["command"] is None
    assert _read(info, {**DECLARED, "command": ["sh"]})["command"] == ["sh"]


def test_a_difference_is_an_exact_field_reason() -> None:
    info = copy.deepcopy(DB)
    info["Config"]["Env"][0] = "POSTGRES_USER=admin"
    info["HostConfig"]["PortBindings"] = {"5432/tcp": [{"HostIp": "", "HostPort": "5432"}]}
    info["NetworkSettings"]["Networks"]["shop_back"] = {"Aliases": ["database"]}
    reasons = {r.path: (r.before, r.after) for r in _intent(_read(info), _canonical(DECLARED))}
    assert reasons["env.POSTGRES_USER"] == ("admin", "app")
    assert "ports" in reasons
    assert "networks" not in reasons  # changed in place: compared with the live container instead


def test_engine_defaults_read_as_the_schema_defaults() -> None:
    info = copy.deepcopy(DB)
    info["Config"]["Healthcheck"] = {"Test": ["CMD-SHELL", "true"]}  # Compose sends only what was given
    declared = {**DECLARED, "healthcheck": {"test": "true"}}
    assert _read(info, declared)["healthcheck"] == _canonical(declared)["healthcheck"]
    info["Config"]["Healthcheck"] = {"Test": ["NONE"]}
    assert _read(info)["healthcheck"]["disable"] is True
    info["HostConfig"]["RestartPolicy"] = {"Name": "on-failure", "MaximumRetryCount": 3}
    assert _read(info)["restart"] == "on-failure:3"
    info["HostConfig"]["RestartPolicy"] = {"Name": "", "MaximumRetryCount": 0}
    assert _read(info)["restart"] == "no"


def test_a_volume_of_another_name_and_networks_by_key() -> None:
    info = copy.deepcopy(DB)
    info["Mounts"][0]["Name"] = "legacy_data"
    info["NetworkSettings"]["Networks"] = {"shop_back": {"Aliases": ["db", "database", "d2445f1c739e"]}}
    live = live_spec(
        info,
        IMAGE,
        plain_of(ContainerSpec.model_validate(DECLARED)),
        "db",
        NAMING,
        {"default": NetworkSpec(), "back": NetworkSpec()},
        KEY,
    )
    assert {"type": "volume", "source": "legacy_data", "target": "/var/lib/db", "read_only": False} in live["volumes"]
    assert live["networks"] == [{"name": "back", "aliases": ["database"]}]


def test_bookkeeping_comes_from_the_declaration() -> None:
    live = _read(DB, {**DECLARED, "adopt": "shop_db_1", "replicas": 1, "update": {"order": "stop-first"}})
    assert live["depends_on"] == {"cache": "started"}  # from the declaration: a container has no such thing
    assert "adopt" not in live


def test_config_files_are_digested_from_the_container() -> None:
    declared = [{"source": "conf", "target": "/etc/app.conf", "mode": 0o644, "sha256": "x", "secret": False}]
    found = live_files(declared, {"/etc/app.conf": b"hello"}, KEY)
    assert found[0]["sha256"] != "x" and found[0]["target"] == "/etc/app.conf"
    assert live_files(declared, {"/etc/app.conf": None}, KEY) == []
