"""The Docker Engine adapter: one connection, error translation at one place.

Only runtime/ sees the docker SDK; plans/ gets records (runtime.records).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

from hostform.declare.errors import ConflictError, EngineError, EngineUnreachable, ImageMissing, NotFound

GO_MODE_DIR = 1 << 31  # the engine's stat gives Go's os.FileMode: a folder has this bit
API_VERSION = "1.41"  # Docker 20.10 and every engine since
READ_WORKERS = 64  # inspects at once on a tcp:// engine: 100 containers in 2 round trips
T = TypeVar("T")
A = TypeVar("A")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Map docker-py and transport errors to hostform's error tree, by exception class and HTTP
    status code (never by the words of a message, which change from one engine version to another)."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissing(f"{what}: {_explain(exc)}", 404) from None
    except docker.errors.APIError as exc:
        status = exc.status_code
        kind = {404: NotFound, 409: ConflictError}.get(status or 0, EngineError)
        raise kind(f"{what}: {_explain(exc)}", status) from None
    except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as exc:
        raise EngineUnreachable(f"cannot reach the Docker engine ({what}): {_root_cause(exc)}") from None
    except requests.exceptions.RequestException as exc:  # a read that timed out, an answer cut short
        raise EngineError(f"{what}: {_root_cause(exc)}") from None
    except docker.errors.DockerException as exc:
        if _transport_failed(exc):
            raise EngineUnreachable(f"cannot reach the Docker engine ({what}): {_root_cause(exc)}") from None
        raise EngineError(f"{what}: {exc}") from None


def _transport_failed(exc: BaseException) -> bool:
    """A docker-py error raised because the connection underneath failed (its cause or context)."""
    import requests.exceptions

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError | FileNotFoundError | ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _explain(exc: Any) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__


def engine_address(host: str | None) -> str | None:
    """The engine the Docker way: --host, DOCKER_HOST, then the current Docker context."""
    if host:
        return host
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        from docker.context import ContextAPI

        ctx = ContextAPI.get_current_context()
        return ctx.Host if ctx and ctx.Host else None
    except Exception:  # an unreadable context config falls back to the default socket
        return None


class Engine:
    """A thin adapter over the docker SDK's low-level client."""

    def __init__(self, host: str | None = None, timeout: int = 120, tls: Any = None) -> None:
        import docker

        address = engine_address(host)
        self.address = address or "unix:///var/run/docker.sock"
        self.swarm = False  # a Swarm manager driven for a target = "swarm" stack (the lock lives there)
        # Reads overlap on a remote engine (each one a round trip); a local socket answers
        # faster one call at a time. Over ssh every connection is an ssh process: fewer.
        self.read_parallelism = 1 if not self.remote else 8 if self.is_ssh else READ_WORKERS
        pool = max(16, self.read_parallelism + 8)  # the inspects' workers and the overlapped lists
        with translated(f"connect to {self.address}"):
            kwargs: dict[str, Any] = {}
            if not host and os.environ.get("DOCKER_HOST"):
                kwargs = docker.utils.kwargs_from_env()
            if tls is not None:
                kwargs["tls"] = tls
            kwargs.setdefault("base_url", self.address)
            if self.is_ssh:
                kwargs["base_url"] = "unix:///nonexistent"  # replaced by the ssh adapter just below
            try:
                self.api = docker.APIClient(version=API_VERSION, timeout=timeout, max_pool_size=pool, **kwargs)
            except ValueError as exc:  # urllib's words for an address it cannot parse ("Invalid IPv6 URL")
                raise EngineError(f"engine address {self.address!r}: {exc}") from None
        if self.is_ssh:
            from hostform.runtime.ssh import MOUNT, SSHAdapter

            self.api.mount(MOUNT, SSHAdapter(self.address, timeout, pool))
            self.api.base_url = MOUNT
        elif not self.api.base_url.startswith("http+docker://"):
            _widen_tcp_pools(self.api, pool)  # requests keeps 10 connections per host: the workers need more
            if isinstance(self.api.verify, str):
                # requests would take REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment over
                # the engine's own CA, and refuse the engine: each call verifies against its CA.
                from hostform.runtime.tls import EngineCA

                self.api.mount("https://", EngineCA(self.api.verify, pool))
        self._local_pool: Any = None
        if self.api.base_url.startswith(("http+docker://localhost", "http+docker://localnpipe", "http+docker://ssh")):
            # A local socket has no proxy and no netrc, but requests looks both up in the
            # environment and the home folder on every call (~0.25 ms each, a quarter of a
            # no-op plan's engine time on 100 containers). TCP engines keep the lookups.
            self.api.trust_env = False
        if self.api.base_url == "http+docker://localhost":
            # The SDK's unix-socket adapter keeps one connection pool per URL, so each
            # container inspected opens a new connection. Bulk reads share one pool instead.
            self._local_pool = self.api.get_adapter(self.api.base_url).get_connection(self.api.base_url)

    @property
    def remote(self) -> bool:
        """Reached over a network (tcp://, ssh://): every call is a round trip."""
        return not self.address.startswith(("unix://", "npipe://"))

    @property
    def is_ssh(self) -> bool:
        return self.address.startswith("ssh://")

    def each(self, fn: Callable[[A], T], items: Iterable[A]) -> list[T]:
        """fn over items: one after another on a local socket, over a bounded pool of
        threads on a remote engine, where each call is a round trip worth overlapping."""
        todo = list(items)
        if self.read_parallelism <= 1 or len(todo) <= 1:
            return [fn(x) for x in todo]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.read_parallelism, len(todo))) as pool:
            return list(pool.map(fn, todo))

    def close(self) -> None:
        """Ends the connections (over ssh: the ssh processes)."""
        self.api.close()

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with translated(what):
                return fn(*args, **kwargs)
        except EngineUnreachable as exc:
            text = str(exc)
            if self.address in text:
                raise
            # a remote engine is not pinged first: its first read names the address
            prefix = "cannot reach the Docker engine"
            raise EngineUnreachable(text.replace(prefix, f"{prefix} at {self.address}", 1)) from None

    def ping(self) -> None:
        self.call(f"ping {self.address}", self.api.ping)

    # -- reading

    def list_containers(self, label: str | None = None, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Every container, or those with the label, or those named exactly one of `names`."""
        filters: dict[str, Any] = {}
        if label:
            filters["label"] = label
        if names:
            filters["name"] = [f"^/{re.escape(n)}$" for n in names]  # the engine matches a regex
        return self.call("list containers", self.api.containers, all=True, filters=filters or None)

    def _local_get(self, path: str) -> Any:
        """A GET on the local socket through one kept-alive connection of the SDK's own pool
        (the SDK's call costs ~0.3 ms more: a connection per URL, settings merge, hooks,
        cookie jar). Only a 200 is taken; anything else, or a remote engine, gives None and
        the caller goes through the SDK, which raises or reports as usual."""
        if self._local_pool is None:
            return None
        import urllib3

        try:
            resp = self._local_pool.urlopen(
                "GET",
                f"/v{API_VERSION}{path}",
                headers=dict(self.api.headers),
                retries=False,
                timeout=urllib3.Timeout(self.api.timeout),
                preload_content=True,
            )
        except (urllib3.exceptions.HTTPError, OSError):
            return None
        if resp.status != 200:
            return None
        return json.loads(resp.data)

    def inspect_container(self, ident: str) -> dict[str, Any] | None:
        fast = self._local_get(f"/containers/{quote(ident, safe='')}/json")
        if isinstance(fast, dict):
            return fast
        try:
            found: dict[str, Any] = self.call(f"inspect container {ident}", self.api.inspect_container, ident)
            return found
        except NotFound:
            return None

    def list_networks(self, label: str | None = None, names: list[str] | None = None) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {}
        if label:
            filters["label"] = label
        if names:
            filters["name"] = names
        return self.call("list networks", self.api.networks, filters=filters or None)

    def list_volumes(self, label: str | None = None) -> list[dict[str, Any]]:
        filters = {"label": label} if label else None
        result = self.call("list volumes", self.api.volumes, filters=filters)
        return list(result.get("Volumes") or [])

    def inspect_volume(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call(f"inspect volume {name}", self.api.inspect_volume, name)
            return found
        except NotFound:  # only that: an engine that does not answer is not a missing volume
            return None

    def image_id(self, ref: str) -> str | None:
        return self.image_facts(ref)[0]

    def image_facts(self, ref: str) -> tuple[str | None, tuple[str, ...]]:
        """The local image ID of a reference (None: absent) and its registry digests (repo@sha256:...)."""
        try:
            found = self.call(f"inspect image {ref}", self.api.inspect_image, ref)
        except NotFound:
            return None, ()
        return str(found["Id"]), tuple(found.get("RepoDigests") or ())

    def image_config(self, ref: str) -> dict[str, Any] | None:
        """An image's own config (its Cmd, Env, Labels...): what a container of it gets unless told otherwise."""
        try:
            found = self.call(f"inspect image {ref}", self.api.inspect_image, ref)
        except NotFound:
            return None
        return dict(found.get("Config") or {})

    def pull(self, ref: str) -> str:
        repo, tag = _split_ref(ref)
        with translated(f"pull {ref}"):
            for event in self.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise EngineError(f"pull {ref}: {event['error']}")
        found = self.image_id(ref)
        if found is None:
            raise ImageMissing(f"pull {ref}: image still missing after pull")
        return found

    # -- containers

    def create_container(self, name: str, config: dict[str, Any]) -> str:
        with translated(f"create container {name}"):
            result = self.api.create_container_from_config(config, name=name)
        return str(result["Id"])

    def start(self, ident: str) -> None:
        self.call(f"start container {ident}", self.api.start, ident)

    def restart(self, ident: str) -> None:
        self.call(f"restart container {ident}", self.api.restart, ident)

    def stop(self, ident: str, timeout: int) -> None:
        self.call(f"stop container {ident}", self.api.stop, ident, timeout=timeout)

    def kill(self, ident: str, signal: str) -> None:
        self.call(f"signal container {ident}", self.api.kill, ident, signal=signal)

    def remove_container(self, ident: str) -> None:
        # v=False: anonymous volumes are left for the user; named volumes are never touched here
        self.call(f"remove container {ident}", self.api.remove_container, ident, force=True, v=False)

    def rename(self, ident: str, name: str) -> None:
        self.call(f"rename container {ident} to {name}", self.api.rename, ident, name)

    def update_resources(self, ident: str, body: dict[str, Any]) -> None:
        def post() -> None:
            res = self.api._post_json(self.api._url("/containers/{0}/update", ident), data=body)
            self.api._raise_for_status(res)

        self.call(f"update container {ident}", post)

    def connect(self, ident: str, network: str, aliases: list[str]) -> None:
        self.call(
            f"connect {ident} to {network}", self.api.connect_container_to_network, ident, network, aliases=aliases
        )

    def disconnect(self, ident: str, network: str) -> None:
        self.call(
            f"disconnect {ident} from {network}", self.api.disconnect_container_from_network, ident, network, force=True
        )

    def put_file(self, ident: str, path: str, data: bytes, mode: int) -> None:
        """Copy a file in; parent folders are made only when missing (an existing /tmp keeps its mode).
        A target that is a folder in the container is refused: the copy would replace the folder."""
        if self.is_folder(ident, path):
            raise EngineError(
                f"file target {path} is a folder in the image of {ident}: name a file (e.g. {path}/app.conf)"
            )
        parent, _, base = path.rpartition("/")
        try:
            self.call(
                f"copy {path} into {ident}", self.api.put_archive, ident, parent or "/", _tar_of(base, data, mode)
            )
        except NotFound:  # its folder is missing: the tar extracted at / carries the folders too
            self.call(f"copy {path} into {ident}", self.api.put_archive, ident, "/", _tar_of(path, data, mode))

    def is_folder(self, ident: str, path: str) -> bool:
        """Whether `path` is a folder in the container (running or not), from the engine's stat of it."""
        import base64

        with translated(f"stat {path} in {ident}"):
            response = self.api._get(
                self.api._url("/containers/{0}/archive", ident), params={"path": path}, stream=True
            )
            response.close()  # the stat is in a header: the folder's tar is not read
        header = response.headers.get("X-Docker-Container-Path-Stat")
        if response.status_code != 200 or not header:
            return False
        try:
            mode = int(json.loads(base64.b64decode(header)).get("mode", 0))
        except (ValueError, TypeError):
            return False
        return bool(mode & GO_MODE_DIR)

    def read_file(self, ident: str, path: str, limit: int = 1 << 20) -> bytes | None:
        """A regular file's content from a container (running or not); None when absent or too big."""
        try:
            stream, stat = self.call(f"read {path} from {ident}", self.api.get_archive, ident, path)
        except NotFound:
            return None
        if int(stat.get("size", 0)) > limit:
            return None
        raw = b"".join(stream)
        import tarfile  # only where files are read or written: a no-op plan of a stack without files never is

        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar:
                if member.isfile():
                    fh = tar.extractfile(member)
                    return fh.read() if fh else None
        return None

    def logs_tail(self, ident: str, lines: int = 10) -> list[str]:
        """The last lines a container wrote, for an error message ([] when the engine has none to give)."""
        try:
            raw = self.call(f"logs of {ident}", self.api.logs, ident, tail=lines, stdout=True, stderr=True)
        except EngineUnreachable:
            raise
        except EngineError:
            return []
        text: str = raw.decode(errors="replace")
        return text.splitlines()[-lines:]

    # -- networks and volumes

    def create_network(self, name: str, **kwargs: Any) -> str:
        with translated(f"create network {name}"):
            result = self.api.create_network(name, **kwargs)
        return str(result["Id"])

    def network_members(self, ident: str) -> list[str]:
        """IDs of the containers attached to a network."""
        info = self.call(f"inspect network {ident}", self.api.inspect_network, ident)
        return list(info.get("Containers") or {})

    def remove_network(self, ident: str, patience: float = 15.0) -> None:
        # Endpoints of containers removed a moment ago are released asynchronously (seen with
        # 100 containers under load): the engine's 403 ("has active endpoints") is retried a while.
        deadline = time.monotonic() + patience
        while True:
            try:
                self.call(f"remove network {ident}", self.api.remove_network, ident)
                return
            except EngineError as exc:
                if exc.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def create_volume(self, name: str, driver: str, driver_opts: dict[str, str], labels: dict[str, str]) -> None:
        self.call(
            f"create volume {name}", self.api.create_volume, name, driver=driver, driver_opts=driver_opts, labels=labels
        )

    def remove_volume(self, name: str) -> None:
        self.call(f"remove volume {name}", self.api.remove_volume, name)


def _widen_tcp_pools(api: Any, size: int) -> None:
    for prefix in ("http://", "https://"):
        adapter = api.adapters.get(prefix)
        if adapter is not None and hasattr(adapter, "init_poolmanager"):
            adapter._pool_maxsize = size
            adapter.init_poolmanager(adapter._pool_connections, size, block=adapter._pool_block)


def _split_ref(ref: str) -> tuple[str, str]:
    if "@" in ref:
        return ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = ref.rpartition(":")
        return repo, tag
    return ref, "latest"


def _tar_of(path: str, data: bytes, mode: int) -> bytes:
    """A tar to extract at '/', holding the file and its parent folders."""
    import tarfile

    buf = io.BytesIO()
    parts = path.strip("/").split("/")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(1, len(parts)):
            info = tarfile.TarInfo("/".join(parts[:i]))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("/".join(parts))
        info.size = len(data)
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
