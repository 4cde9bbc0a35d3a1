"""The stack format: every spelling a user may choose normalises to one canonical value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hostform.declare.schema import (
    ContainerSpec,
    FileSpec,
    JobSpec,
    Mount,
    NetworkAttachment,
    PortMapping,
    Stack,
    VolumeSpec,
)

S = 10**9


def container(base_dir: str = "/srv/stack", **fields: Any) -> ContainerSpec:
    return ContainerSpec.model_validate({"image": "busybox", **fields}, context={"base_dir": base_dir})


def ports(*spellings: Any) -> tuple[PortMapping, ...]:
    return container(ports=list(spellings)).ports


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(e["msg"] for e in exc.value.errors())


# ---------------------------------------------------------------- ports


@pytest.mark.parametrize(
    "spelling",
    [
        "8080:80",
        "8080:80/tcp",
        {"target": 80, "published": 8080},
        {"target": 80, "published": "8080"},
        {"target": 80, "published": 8080, "protocol": "tcp", "host_ip": ""},
    ],
)
def test_port_spellings_are_one_mapping(spelling: Any) -> None:
    assert ports(spelling) == (PortMapping(container_port=80, host_port=8080),)


def test_port_with_ip_and_protocol() -> None:
    (p,) = ports("127.0.0.1:8080:80/udp")
    assert p == PortMapping(container_port=80, host_port=8080, host_ip="127.0.0.1", protocol="udp")
    assert ports({"target": 80, "published": 8080, "host_ip": "127.0.0.1", "protocol": "udp"}) == (p,)
    assert str(p) == "127.0.0.1:8080:80/udp"


@pytest.mark.parametrize("spelling", ["80", 80, {"target": 80}, "80/tcp", ":80", {"target": 80, "published": ""}])
def test_port_without_host_port_lets_the_engine_pick(spelling: Any) -> None:
    assert ports(spelling) == (PortMapping(container_port=80),)


def test_port_with_ip_and_no_host_port() -> None:
    (p,) = ports("127.0.0.1::80")
    assert (p.host_ip, p.host_port, p.container_port) == ("127.0.0.1", None, 80)
    assert str(p) == "127.0.0.1::80/tcp"


def test_ipv6_port() -> None:
    (p,) = ports("[::1]:8080:80")
    assert (p.host_ip, p.host_port) == ("::1", 8080)


def test_ports_are_sorted_so_order_does_not_matter() -> None:
    assert ports("9090:90", "8080:80") == ports("8080:80", "9090:90")


@pytest.mark.parametrize("bad", ["80:80:80", "http", "8080:", "80/icmp", "999.1.1.1:80:80", "a:80:80", True, 8.5, [80]])
def test_not_a_port_mapping(bad: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        ports(bad)
    assert "is not a port mapping (expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO])" in error_text(exc)


@pytest.mark.parametrize("bad", ["70000:80", "8080:0", "8080:70000", 0])
def test_port_numbers_are_in_range(bad: Any) -> None:
    with pytest.raises(ValidationError):
        ports(bad)


def test_port_table_typo_suggests() -> None:
    with pytest.raises(ValidationError) as exc:
        ports({"target": 80, "publshed": 8080})
    assert "unknown key 'publshed' in a port table; did you mean 'published'?" in error_text(exc)


def test_port_table_needs_target() -> None:
    with pytest.raises(ValidationError) as exc:
        ports({"published": 8080})
    assert "a port table needs 'target'" in error_text(exc)


def test_port_table_published_must_be_a_number() -> None:
    with pytest.raises(ValidationError) as exc:
        ports({"target": 80, "published": "abc"})
    assert "published port 'abc' is not a port number" in error_text(exc)


# ---------------------------------------------------------------- mounts


def test_named_volume_short_and_table_forms() -> None:
    short = container(volumes=["data:/var/lib/db"]).volumes
    table = container(volumes=[{"source": "data", "target": "/var/lib/db"}]).volumes
    assert short == table == (Mount(type="volume", source="data", target="/var/lib/db"),)


def test_read_only_mount() -> None:
    short = container(volumes=["data:/d:ro"]).volumes
    table = container(volumes=[{"source": "data", "target": "/d", "read_only": True}]).volumes
    assert short == table
    assert short[0].read_only
    assert not container(volumes=["data:/d:rw"]).volumes[0].read_only


@pytest.mark.parametrize(
    ("source", "resolved"),
    [
        ("./conf", "/srv/stack/conf"),
        ("./a/../b", "/srv/stack/b"),
        ("../shared", "/srv/shared"),
        (".", "/srv/stack"),
        ("/etc/app", "/etc/app"),
    ],
)
def test_bind_mount_resolves_relative_to_the_stack_file(source: str, resolved: str) -> None:
    (m,) = container(volumes=[f"{source}:/c:ro"]).volumes
    assert m == Mount(type="bind", source=resolved, target="/c", read_only=True)


def test_source_without_path_prefix_is_a_volume_name() -> None:
    # as in Compose: "conf:/c" names a volume; the loader then asks for [volumes.conf]
    (m,) = container(volumes=["conf:/c"]).volumes
    assert (m.type, m.source) == ("volume", "conf")


def test_bind_mount_table_form_resolves_too() -> None:
    (m,) = container(volumes=[{"type": "bind", "source": "./conf", "target": "/c"}]).volumes
    assert m.source == "/srv/stack/conf"
    assert m == container(volumes=["./conf:/c"]).volumes[0]


def test_bind_mount_home() -> None:
    (m,) = container(volumes=["~/data:/d"]).volumes
    assert m.type == "bind" and m.source.startswith("/") and "~" not in m.source


def test_mount_target_trailing_slash_is_dropped() -> None:
    assert container(volumes=["data:/d/"]).volumes[0].target == "/d"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("data", "is not a mount"),
        ("data:/d:ro:x", "is not a mount"),
        (":/d", "is not a mount"),
        ("data:/d:rx", "mount mode must be 'ro' or 'rw', not 'rx'"),
        ("data:relative", "mount target 'relative' must be an absolute path"),
        ({"source": "data"}, "a mount table needs 'target'"),
        ({"source": "data", "target": "/d", "readonly": True}, "did you mean 'read_only'?"),
        (3, "is not a mount"),
    ],
)
def test_bad_mounts(bad: Any, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        container(volumes=[bad])
    assert message in error_text(exc)


def test_mounts_are_sorted_by_target() -> None:
    assert container(volumes=["b:/b", "a:/a"]).volumes == container(volumes=["a:/a", "b:/b"]).volumes


# ---------------------------------------------------------------- networks


def test_networks_list_and_table_forms() -> None:
    as_list = container(networks=["front", "back"]).networks
    as_table = container(networks={"back": {}, "front": {}}).networks
    assert as_list == as_table == (NetworkAttachment(name="back"), NetworkAttachment(name="front"))


def test_network_aliases_are_sorted_and_unique() -> None:
    (att,) = container(networks={"back": {"aliases": ["db", "broker", "db"]}}).networks
    assert att == NetworkAttachment(name="back", aliases=("broker", "db"))


def test_network_list_must_hold_names() -> None:
    with pytest.raises(ValidationError) as exc:
        container(networks=["back", 3])
    assert "networks must be a list of network names or a table" in error_text(exc)


def test_network_table_typo() -> None:
    with pytest.raises(ValidationError) as exc:
        container(networks={"back": {"alias": ["x"]}})
    assert "unknown key 'alias' in network 'back'; did you mean 'aliases'?" in error_text(exc)


# ---------------------------------------------------------------- depends_on


def test_depends_on_list_is_resolved_later() -> None:
    # the loader turns "default" into completed (job) or started (container)
    assert container(depends_on=["db", "migrate"]).depends_on == {"db": "default", "migrate": "default"}


def test_depends_on_table_and_compose_spellings() -> None:
    spec = container(
        depends_on={
            "a": "healthy",
            "b": {"condition": "service_healthy"},
            "c": "service_completed_successfully",
            "d": {"condition": "service_started"},
        }
    )
    assert spec.depends_on == {"a": "healthy", "b": "healthy", "c": "completed", "d": "started"}


def test_depends_on_compose_table_typo() -> None:
    with pytest.raises(ValidationError) as exc:
        container(depends_on={"db": {"conditon": "service_healthy"}})
    assert "unknown key 'conditon' in depends_on 'db'; did you mean 'condition'?" in error_text(exc)


@pytest.mark.parametrize("bad", [{"db": "ready"}, {"db": 3}, ["db", 3], {"db": {"condition": "ready"}}])
def test_bad_depends_on(bad: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        container(depends_on=bad)
    text = error_text(exc)
    assert any(
        fragment in text
        for fragment in ("is not a condition for 'db'", "depends_on must be a list of names", "depends_on 'db'")
    )


# ---------------------------------------------------------------- healthcheck


def test_healthcheck_string_is_cmd_shell() -> None:
    hc = container(healthcheck={"test": "wget -q -O- http://localhost/"}).healthcheck
    assert hc is not None
    assert hc.test == ("CMD-SHELL", "wget -q -O- http://localhost/")


def test_healthcheck_list_gets_cmd() -> None:
    bare = container(healthcheck={"test": ["pg_isready", "-q"]}).healthcheck
    explicit = container(healthcheck={"test": ["CMD", "pg_isready", "-q"]}).healthcheck
    assert bare == explicit
    assert bare is not None and bare.test == ("CMD", "pg_isready", "-q")


def test_healthcheck_durations_and_defaults() -> None:
    hc = container(healthcheck={"test": "true", "interval": "1m30s", "start_period": 5}).healthcheck
    assert hc is not None
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period) == (90 * S, 30 * S, 3, 5 * S)


def test_healthcheck_needs_a_test_unless_disabled() -> None:
    with pytest.raises(ValidationError) as exc:
        container(healthcheck={"interval": "5s"})
    assert "a healthcheck needs 'test'" in error_text(exc)
    assert container(healthcheck={"disable": True}).healthcheck is not None


def test_healthcheck_retries_at_least_one() -> None:
    with pytest.raises(ValidationError):
        container(healthcheck={"test": "true", "retries": 0})


# ---------------------------------------------------------------- small parts


def test_caps_are_normalised() -> None:
    spec = container(cap_add=["net_admin", "CAP_SYS_TIME", "NET_ADMIN"], cap_drop=["all"])
    assert spec.cap_add == ("NET_ADMIN", "SYS_TIME")
    assert spec.cap_drop == ("ALL",)


def test_extra_hosts_dict_and_list() -> None:
    as_dict = container(extra_hosts={"db.local": "10.0.0.2", "api.local": "10.0.0.3"}).extra_hosts
    as_list = container(extra_hosts=["db.local:10.0.0.2", "api.local:10.0.0.3", "db.local:10.0.0.2"]).extra_hosts
    assert as_dict == as_list == ("api.local:10.0.0.3", "db.local:10.0.0.2")


def test_extra_hosts_compose_equals_spelling_is_the_colon_form() -> None:
    as_equals = container(extra_hosts=["bar.local=10.1.2.4", "v6.local=::1", "v6b.local=[fe80::1]"]).extra_hosts
    as_colon = container(extra_hosts=["bar.local:10.1.2.4", "v6.local:::1", "v6b.local:fe80::1"]).extra_hosts
    as_dict = container(extra_hosts={"bar.local": "10.1.2.4", "v6.local": "::1", "v6b.local": "fe80::1"}).extra_hosts
    assert as_equals == as_colon == as_dict == ("bar.local:10.1.2.4", "v6.local:::1", "v6b.local:fe80::1")
    mixed = container(extra_hosts=["bar.local=10.1.2.4", "bar.local:10.1.2.4", "a.local:10.0.0.1"]).extra_hosts
    assert mixed == ("a.local:10.0.0.1", "bar.local:10.1.2.4")  # one entry, sorted


def test_extra_hosts_colon_form_is_kept_as_written() -> None:
    # the canonical form of already-applied stacks must not change
    written = ["db.local:10.0.0.2", "v6.local:::1", "br.local:[::1]"]
    assert container(extra_hosts=written).extra_hosts == tuple(sorted(written))


@pytest.mark.parametrize("bad", ["db.local", "=10.0.0.1", "db.local=", 3])
def test_extra_host_needs_an_ip(bad: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        container(extra_hosts=[bad])
    assert f"extra host {bad!r} is not HOST:IP or HOST=IP" in error_text(exc)


def test_env_table_and_list_forms() -> None:
    as_table = container(env={"A": "1", "B": 2, "C": True, "D": 1.5}).env
    as_list = container(env=["A=1", "B=2", "C=true", "D=1.5"]).env
    assert as_table == as_list == {"A": "1", "B": "2", "C": "true", "D": "1.5"}


def test_env_list_value_may_hold_equals() -> None:
    assert container(env=["URL=a=b"]).env == {"URL": "a=b"}


def test_env_list_entry_needs_equals() -> None:
    with pytest.raises(ValidationError) as exc:
        container(env=["FOO"])
    assert "env entry 'FOO' is not KEY=VALUE" in error_text(exc)


def test_labels_table_and_list_forms() -> None:
    assert container(labels={"a": "1", "b": False}).labels == container(labels=["a=1", "b=false"]).labels


def test_command_string_is_split_like_a_shell() -> None:
    assert container(command="sh -c 'echo hi there'").command == ("sh", "-c", "echo hi there")
    assert container(command=["sh", "-c", "echo hi"]).command == ("sh", "-c", "echo hi")
    assert container().command is None


def test_unsplittable_command() -> None:
    with pytest.raises(ValidationError) as exc:
        container(command="echo 'unterminated")
    assert "cannot split command" in error_text(exc)


def test_sizes_and_durations_in_a_container() -> None:
    spec = container(memory="512m", memory_reservation=1024, stop_grace_period="1m30s")
    assert (spec.memory, spec.memory_reservation, spec.stop_grace_period) == (512 * 1024**2, 1024, 90 * S)
    assert container().stop_grace_period == 10 * S


@pytest.mark.parametrize(("given", "canonical"), [("term", "SIGTERM"), ("SIGHUP", "SIGHUP"), ("9", "9")])
def test_stop_signal(given: str, canonical: str) -> None:
    assert container(stop_signal=given).stop_signal == canonical


def test_tmpfs_sorted_and_unique() -> None:
    assert container(tmpfs=["/tmp", "/run", "/tmp"]).tmpfs == ("/run", "/tmp")


def test_env_file_string_or_list() -> None:
    assert container(env_file="a.env").env_file == container(env_file=["a.env"]).env_file == ("a.env",)


@pytest.mark.parametrize(("mode", "value"), [("0755", 0o755), ("644", 0o644), (0o600, 0o600)])
def test_file_mount_modes(mode: Any, value: int) -> None:
    (f,) = container(files=[{"source": "conf", "target": "/etc/app.conf", "mode": mode}]).files
    assert f.mode == value


def test_file_mount_defaults_and_errors() -> None:
    (f,) = container(files=[{"source": "conf", "target": "/etc/app.conf"}]).files
    assert f.mode == 0o644
    with pytest.raises(ValidationError, match="is not an octal file mode"):
        container(files=[{"source": "conf", "target": "/x", "mode": "rwx"}])
    for mode in [0o10000, -1, "17777"]:
        with pytest.raises(ValidationError, match="is not a file mode"):
            container(files=[{"source": "conf", "target": "/x", "mode": mode}])
    with pytest.raises(ValidationError, match="must be an absolute path"):
        container(files=[{"source": "conf", "target": "app.conf"}])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"restart": "sometimes"}, "is not a restart policy"),
        ({"restart": "on-failure:x"}, "is not a restart policy"),
        ({"pull": "sometimes"}, "Input should be 'missing', 'always' or 'never'"),
        ({"replicas": 101}, "less than or equal to 100"),
        ({"replicas": -1}, "greater than or equal to 0"),
        ({"cpus": 0}, "greater than or equal to 0.01"),
        ({"cpus": float("inf")}, "finite number"),
        ({"pids_limit": -2}, "greater than or equal to -1"),
        ({"image": ""}, "at least 1 character"),
        ({"memory": "lots"}, "'lots' is not a size"),
        ({"stop_grace_period": "soon"}, "'soon' is not a duration"),
        ({"update": {"order": "rolling"}}, "Input should be 'stop-first' or 'start-first'"),
    ],
)
def test_container_field_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        container(**fields)
    assert message in error_text(exc)


def test_unknown_container_key_is_forbidden() -> None:
    with pytest.raises(ValidationError) as exc:
        container(imgae="x")
    assert exc.value.errors()[0]["type"] == "extra_forbidden"


def test_models_are_frozen() -> None:
    spec = container()
    with pytest.raises(ValidationError):
        spec.image = "other"  # type: ignore[misc]


# ---------------------------------------------------------------- jobs, files, stack


def test_job_runs_once() -> None:
    with pytest.raises(ValidationError, match="'replicas' must be 1"):
        JobSpec.model_validate({"image": "x", "replicas": 2})
    with pytest.raises(ValidationError, match="'restart' must be 'no'"):
        JobSpec.model_validate({"image": "x", "restart": "always"})
    assert JobSpec.model_validate({"image": "x"}).replicas == 1


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"source": "a", "content": "b"},
        {"source": "a", "template": "t"},
        {"content": "a", "template": "t", "source": "s"},
    ],
)
def test_file_needs_exactly_one_origin(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of 'source', 'content', 'template'"):
        FileSpec.model_validate(fields)


def test_empty_tables_are_declarations_with_defaults() -> None:
    stack = Stack.model_validate({"stack": {"name": "s"}, "volumes": {"data": {}}, "networks": {"back": {}}})
    assert stack.volumes["data"] == VolumeSpec()
    assert stack.networks["back"].driver == "bridge"
    assert stack.name == "s"


@pytest.mark.parametrize("name", ["blog", "my-stack", "a_1", "0x"])
def test_good_stack_names(name: str) -> None:
    assert Stack.model_validate({"stack": {"name": name}}).name == name


@pytest.mark.parametrize("name", ["Blog", "my stack", "-x", "_x", "a.b", ""])
def test_bad_stack_names(name: str) -> None:
    with pytest.raises(ValidationError, match="must be lower case letters"):
        Stack.model_validate({"stack": {"name": name}})


def test_services_are_containers_and_jobs() -> None:
    stack = Stack.model_validate(
        {"stack": {"name": "s"}, "containers": {"web": {"image": "x"}}, "jobs": {"migrate": {"image": "x"}}}
    )
    assert set(stack.services()) == {"web", "migrate"}
    assert isinstance(stack.services()["migrate"], JobSpec)


@pytest.mark.parametrize(("written", "held"), [(0.3333333333, 0.333333333), (4.1, 4.1), (0.5, 0.5), (2, 2.0)])
def test_cpus_are_kept_as_the_engine_holds_them(written: float, held: float) -> None:
    from hostform.runtime.container_config import resources

    spec = ContainerSpec.model_validate({"image": "x", "cpus": written})
    assert spec.cpus == held
    assert resources(spec)["NanoCpus"] / 1e9 == held  # what observe reads back: no perpetual diff


@pytest.mark.parametrize(
    ("written", "canonical", "engine"),
    [
        ("on-failure:3", "on-failure:3", {"Name": "on-failure", "MaximumRetryCount": 3}),
        ("on-failure:0", "on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
        ("unless-stopped", "unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
    ],
)
def test_restart_policies_as_compose_spells_them(written: str, canonical: str, engine: dict[str, object]) -> None:
    from hostform.declare.schema import restart_policy

    spec = ContainerSpec.model_validate({"image": "x", "restart": written})
    assert spec.restart == canonical and restart_policy(spec.restart) == engine
