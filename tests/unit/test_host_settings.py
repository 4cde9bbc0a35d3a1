"""The host settings of a container (Compose's privileged, devices, network_mode, init, shm_size,
ulimits, sysctls, logging, security_opt, group_add, ipc, pid, dns, dns_search, platform,
mac_address, and GPUs): validated with the key and line, canonical without their defaults,
planned as replacements, refused on Swarm by name, imported from Compose."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hostform.declare.canonical import service_spec
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.declare.spec import HOST_SETTINGS
from hostform.plans.compose_import import import_compose
from hostform.plans.diff import _intent
from hostform.plans.fields import Effect, effect_of

HEAD = '[stack]\nname = "hs"\n\n[containers.app]\nimage = "busybox:1"\n'


def loaded(tmp_path: Path, body: str, head: str = HEAD):  # type: ignore[no-untyped-def]
    (tmp_path / "hostform.toml").write_text(head + body, encoding="utf-8")
    return load(tmp_path / "hostform.toml", environ={})


def problem(tmp_path: Path, body: str, head: str = HEAD) -> str:
    with pytest.raises(StackError) as exc:
        loaded(tmp_path, body, head)
    assert len(exc.value.problems) == 1, exc.value.problems
    return str(exc.value.problems[0])


def test_every_key_in_its_canonical_form(tmp_path: Path) -> None:
    spec = loaded(
        tmp_path,
        'devices = ["/dev/null", "/dev/zero:/dev/z", { source = "/dev/fuse", permissions = "mr" }, "/dev/a:r"]\n'
        'gpus = "all"\ninit = true\nshm_size = "128m"\nulimits = { nofile = 1024, core = { soft = 0, hard = -1 } }\n'
        'sysctls = ["net.core.somaxconn=1024"]\nlogging = { driver = "local", options = { compress = true } }\n'
        'group_add = [10, "audio"]\ndns = "10.0.0.53"\ndns_search = "a.test"\nplatform = "linux/arm64/v8"\n'
        'mac_address = "02:42:ac:11:00:02"\nipc = "shareable"\nsecurity_opt = ["no-new-privileges:true"]\n',
    ).stack.containers["app"]
    assert spec.devices == (
        "/dev/a:/dev/a:r",
        "/dev/fuse:/dev/fuse:rm",
        "/dev/null:/dev/null:rwm",
        "/dev/zero:/dev/z:rwm",
    )
    assert spec.gpus == -1 and spec.init and spec.shm_size == 128 * 2**20
    assert {k: (u.soft, u.hard) for k, u in spec.ulimits.items()} == {"core": (0, -1), "nofile": (1024, 1024)}
    assert spec.sysctls == {"net.core.somaxconn": "1024"}
    assert spec.logging is not None and (spec.logging.driver, spec.logging.options) == ("local", {"compress": "true"})
    assert spec.group_add == ("10", "audio") and spec.dns == ("10.0.0.53",) and spec.dns_search == ("a.test",)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("ulimits = { nofile = { soft = 3, hard = 2 } }\n", "containers.app.ulimits: ulimit 'nofile': soft limit 3"),
        ("ulimits = { files = 3 }\n", "'files' is not a ulimit"),
        ('devices = ["null"]\n', "'null' is not a device"),
        ('devices = ["/dev/a:/dev/b:rx"]\n', "is not a device"),
        ('sysctls = { "bad name" = 1 }\n', "'bad name' is not a sysctl name"),
        ("gpus = 0\n", "gpus 0: expected 'all' or a number"),
        ('ipc = "weird"\n', "ipc 'weird': expected 'private', 'shareable', 'host', 'none'"),
        ('pid = "private"\n', "pid 'private'"),
        ('network_mode = "host"\nports = ["8080:80"]\n', "network_mode 'host' cannot be given with 'ports'"),
        ('network_mode = "container:db"\nhostname = "x"\n', "cannot be given with 'hostname'"),
        ('dns = ["resolver"]\n', "dns 'resolver' is not an IP address"),
        ('mac_address = "02:42"\n', "mac_address"),
        ('platform = "amd64"\n', "platform"),
        ("logging = { options = { a = 1 } }\n", "logging"),
        ('network_mode = "service:nope"\n', "network_mode names service 'nope', which is not another declared"),
    ],
)
def test_a_wrong_value_is_one_problem_with_key_and_line(tmp_path: Path, body: str, said: str) -> None:
    text = problem(tmp_path, body)
    # the key's line, or the table's where the problem is between keys (network_mode and ports)
    assert text.startswith(
        (f"{tmp_path / 'hostform.toml'}:6: containers.app", f"{tmp_path / 'hostform.toml'}:4: containers.app:")
    ), text
    assert said in text


def test_service_namespace_needs_the_service_started_first(tmp_path: Path) -> None:
    body = '\n[containers.side]\nimage = "busybox:1"\nnetwork_mode = "service:app"\n'
    assert 'add depends_on = { app = "started" }' in problem(tmp_path, body)
    loaded(tmp_path, body + 'depends_on = { app = "started" }\n')


def test_swarm_refuses_each_by_name(tmp_path: Path) -> None:
    head = HEAD.replace('name = "hs"', 'name = "hs"\ntarget = "swarm"')
    with pytest.raises(StackError) as exc:
        loaded(tmp_path, 'init = true\nsysctls = { "net.core.somaxconn" = 1 }\n', head)
    said = [p.message for p in exc.value.problems]
    assert said == [
        f'{key!r} cannot be honoured on target = "swarm": a host setting hostform sets on one engine\'s '
        "containers only (Swarm services are created without it)"
        for key in ("init", "sysctls")
    ]


def test_defaults_stay_out_of_the_spec_and_a_setting_is_a_replacement(tmp_path: Path) -> None:
    """A container applied before these keys existed has the same spec; setting one is a change."""
    before = service_spec(loaded(tmp_path, ""), "app", b"k" * 16)
    assert not set(HOST_SETTINGS) & set(before)
    after = service_spec(loaded(tmp_path, "privileged = true\n"), "app", b"k" * 16)
    reasons = _intent(before, after)
    assert [(r.path, r.before, r.after) for r in reasons] == [("privileged", None, True)]
    assert all(effect_of(key) is Effect.REPLACE for key in HOST_SETTINGS)
    assert _intent(after, service_spec(loaded(tmp_path, "privileged = false\n"), "app", b"k" * 16))


COMPOSE = """services:
  app:
    image: busybox:1
    privileged: true
    init: true
    devices: ["/dev/null:/dev/xnull:rw"]
    shm_size: 128M
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    sysctls: {net.core.somaxconn: 1024}
    logging: {driver: json-file, options: {max-size: 1m}}
    security_opt: ["no-new-privileges:true"]
    group_add: [audio]
    ipc: shareable
    dns: 10.0.0.53
    dns_search: [example.test]
    platform: linux/amd64
    mac_address: "02:42:ac:11:00:99"
    stop_grace_period: 3s
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu], count: 2}, {capabilities: [tpu]}]
  side:
    image: busybox:1
    network_mode: service:app
    pid: service:app
  quiet:
    image: busybox:1
    logging: {options: {max-size: 1m}}
"""


def test_compose_keys_are_imported_with_their_meaning(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE, encoding="utf-8")
    out, skipped, _ = import_compose([str(tmp_path / "docker-compose.yml")], str(tmp_path / "hostform.toml"))
    stack = tomllib.loads(out)["containers"]
    app = stack["app"]
    assert app["privileged"] is True and app["init"] is True and app["gpus"] == 2
    assert app["ulimits"] == {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512}
    assert app["logging"] == {"driver": "json-file", "options": {"max-size": "1m"}}
    assert app["dns"] == "10.0.0.53" and app["stop_grace_period"] == "3s"
    assert stack["side"] == {
        "image": "busybox:1",
        "network_mode": "service:app",
        "pid": "service:app",
        "depends_on": {"app": "started"},
    }
    reasons = {x.key: x.reason for x in skipped}
    assert reasons["services.app.deploy.resources.reservations.devices.1"].startswith("only GPU reservations")
    assert reasons["services.quiet.logging"].startswith("options without a driver")
