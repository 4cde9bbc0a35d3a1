"""The Docker Engine adapter: one connection, error translation at one place.

Only runtime/ sees the docker SDK; plans/ gets records (runtime.records). On the local unix
socket the reads (what a no-op plan or drift makes) go over runtime.unix_reads, the standard
library only, and the SDK (with requests and urllib3, ~50 ms to import) is loaded the first time
a write needs it; remote engines (tcp://, TLS, ssh://) use the SDK for everything, as before.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

from hostform.declare.errors import (
    ConflictError,
    EngineError,
    EngineUnreachable,
    HostformError,
    ImageMissing,
    NotFound,
)
from hostform.runtime.unix_reads import AnswerTooBig, UnixReads

GO_MODE_DIR = 1 << 31  # the engine's stat gives Go's os.FileMode: a folder has this bit
API_VERSION = "1.41"  # Docker 20.10 and every engine since
READ_WORKERS = 64  # inspects at once on a tcp:// engine: 100 containers in 2 round trips
DEFAULT_ADDRESS = "unix:///var/run/docker.sock"
TAR_SLACK = 64 << 10  # a file's tar from the engine: its headers and padding around the content
# docker-py's words for a 404 about an image (its ImageNotFound), for answers read without it
IMAGE_MISSING_WORDS = (
    "no such image",
    "not found: does not exist or no pull access",
    "repository does not exist",
    "was found but does not match the specified platform",
)
T = TypeVar("T")
A = TypeVar("A")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Map docker-py, socket and HTTP errors to hostform's error tree, by exception class and HTTP
    status code (never by the words of a message, which change from one engine version to another)."""
    try:
        yield
    except HostformError:
        raise
    except Exception as exc:
        error = _translation(what, exc)
        if error is None:
            raise
        raise error from None


# Podman 4.3 answers some conditions with 500 where Docker gives their own status; its error
# document's `cause` is the condition's fixed name (not the message, which names the object)
_PODMAN_CAUSES = {"that name is already in use": 409}


def _podman_status(exc: Any) -> int | None:
    response = getattr(exc, "response", None)
    if response is None or response.status_code != 500:
        return None
    try:
        cause = response.json().get("cause")
    except (ValueError, AttributeError):
        return None
    return _PODMAN_CAUSES.get(cause) if isinstance(cause, str) else None


def _translation(what: str, exc: Exception) -> EngineError | None:
    """The hostform error for `exc` (None: not an engine error). The SDK's classes are looked at
    only when the SDK was imported: the stdlib read path (runtime.unix_reads) never imports it."""
    from hostform.runtime.unix_reads import EngineAnswer

    if isinstance(exc, EngineAnswer):
        return _answer(what, exc.status, exc.message) if exc.status else EngineError(f"{what}: {exc.message}")
    if isinstance(exc, FileNotFoundError | ConnectionError):
        return EngineUnreachable(f"cannot reach the Docker engine ({what}): {_root_cause(exc)}")
    if isinstance(exc, TimeoutError):  # a read that timed out
        return EngineError(f"{what}: {_root_cause(exc)}")
    if "docker.errors" not in sys.modules:
        return None
    import docker.errors
    import requests.exceptions

    if isinstance(exc, docker.errors.ImageNotFound):
        return ImageMissing(f"{what}: {_explain(exc)}", 404)
    if isinstance(exc, docker.errors.APIError):
        return _answer(what, _podman_status(exc) or exc.status_code, _explain(exc))
    if isinstance(exc, requests.exceptions.ConnectionError):
        return EngineUnreachable(f"cannot reach the Docker engine ({what}): {_root_cause(exc)}")
    if isinstance(exc, requests.exceptions.RequestException):  # a read that timed out, an answer cut short
        return EngineError(f"{what}: {_root_cause(exc)}")
    if isinstance(exc, docker.errors.DockerException):
        if _transport_failed(exc):
            return EngineUnreachable(f"cannot reach the Docker engine ({what}): {_root_cause(exc)}")
        return EngineError(f"{what}: {exc}")
    return None


def _answer(what: str, status: int | None, message: str) -> EngineError:
    """The error of an engine's answer with an error status: 404 NotFound (ImageMissing for an
    image, told by the engine's words as docker-py tells them), 409 ConflictError."""
    if status == 404 and any(words in message.lower() for words in IMAGE_MISSING_WORDS):
        return ImageMissing(f"{what}: {message}", 404)
    kind = {404: NotFound, 409: ConflictError}.get(status or 0, EngineError)
    return kind(f"{what}: {message}", status)


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
    """The engine the Docker way: --host, DOCKER_HOST, then the current Docker context. The
    context's name is read here; the SDK's ContextAPI is imported only for a context of one's own."""
    if host:
        return host
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    if _current_context() in ("", "default"):
        return DEFAULT_ADDRESS
    try:
        from docker.context import ContextAPI

        ctx = ContextAPI.get_current_context()
        return ctx.Host if ctx and ctx.Host else None
    except Exception:  # an unreadable context config falls back to the default socket
        return None


def docker_config() -> dict[str, Any] | None:
    """The Docker config file as the SDK finds it (DOCKER_CONFIG, ~/.docker/config.json, then the
    legacy ~/.dockercfg): {} when there is none, None when it is not a JSON object."""
    home = os.path.expanduser("~")
    folder = os.environ.get("DOCKER_CONFIG")
    paths = [os.path.join(folder, "config.json")] if folder else []
    paths += [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    found = next((p for p in paths if os.path.exists(p)), None)
    if found is None:
        return {}
    try:
        with open(found, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _current_context() -> str:
    config = docker_config()
    name = (config or {}).get("currentContext", "default")
    return name if isinstance(name, str) else "default"


def may_hold_credentials(config: dict[str, Any] | None) -> bool:
    """Whether the SDK could find registry credentials in the Docker config: auths, a credential
    store or helpers, an auth-only legacy layout, or a file it reads otherwise than as JSON."""
    if config is None:
        return True
    if config.get("auths") or config.get("credsStore") or config.get("credHelpers"):
        return True
    return any(isinstance(v, dict) and ("auth" in v or "identitytoken" in v) for v in config.values())


def unix_socket_path(address: str) -> str | None:
    """The socket file of a unix:// address (the SDK's reading: unix://path is unix:///path)."""
    for scheme in ("unix://", "http+unix://"):
        if address.startswith(scheme):
            rest = address[len(scheme) :]
            return "/" + rest.lstrip("/") if rest else "/var/run/docker.sock"
    return None


class Engine:
    """A thin adapter over the docker SDK's low-level client. On the local unix socket the reads
    go over runtime.unix_reads instead and the SDK's client is made the first time a write (or
    any call the stdlib path does not make) needs it; remote engines make it at once."""

    def __init__(self, host: str | None = None, timeout: int = 120, tls: Any = None) -> None:
        address = engine_address(host)
        self.address = address or DEFAULT_ADDRESS
        self.swarm = False  # a Swarm manager driven for a target = "swarm" stack (the lock lives there)
        # Reads overlap on a remote engine (each one a round trip); a local socket answers
        # faster one call at a time. Over ssh every connection is an ssh process: fewer.
        self.read_parallelism = 1 if not self.remote else 8 if self.is_ssh else READ_WORKERS
        self._settings = (host, timeout, tls)
        self._api: Any = None
        self._api_made = threading.Lock()
        self._credentials: bool | None = None
        self._product: tuple[str, str] | None = None
        path = unix_socket_path(self.address)
        self._reads: UnixReads | None = None
        if path is not None:
            self._reads = UnixReads(path, timeout, API_VERSION)
        else:
            self._api = self._client()

    @property
    def api(self) -> Any:
        """The docker SDK's low-level client (docker.APIClient), made on first use."""
        if self._api is None:
            with self._api_made:
                if self._api is None:
                    self._api = self._client()
        return self._api

    def _client(self) -> Any:
        import docker

        host, timeout, tls = self._settings
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
                api = docker.APIClient(version=API_VERSION, timeout=timeout, max_pool_size=pool, **kwargs)
            except ValueError as exc:  # urllib's words for an address it cannot parse ("Invalid IPv6 URL")
                raise EngineError(f"engine address {self.address!r}: {exc}") from None
        if self.is_ssh:
            from hostform.runtime.ssh import MOUNT, SSHAdapter

            api.mount(MOUNT, SSHAdapter(self.address, timeout, pool))
            api.base_url = MOUNT
        elif not api.base_url.startswith("http+docker://"):
            _widen_tcp_pools(api, pool)  # requests keeps 10 connections per host: the workers need more
            if isinstance(api.verify, str):
                # requests would take REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment over
                # the engine's own CA, and refuse the engine: each call verifies against its CA.
                from hostform.runtime.tls import engine_ca

                api.mount("https://", engine_ca(api.verify, pool))
        if api.base_url.startswith(("http+docker://localhost", "http+docker://localnpipe", "http+docker://ssh")):
            # A local socket has no proxy and no netrc, but requests looks both up in the
            # environment and the home folder on every call (~0.25 ms each). TCP engines keep the lookups.
            api.trust_env = False
        return api

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
        if self._reads is not None:
            self._reads.close()
        if self._api is not None:
            self._api.close()

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

    def _get(self, what: str, path: str, params: dict[str, Any] | None, sdk: Callable[[Any], Any]) -> Any:
        """A read: GET `path` with `params` over the local socket with the standard library,
        else `sdk(api)`, the SDK's own call (remote engines: their pools, TLS, ssh as they are)."""
        if self._reads is not None:
            return self.call(what, self._reads.get, path, params)
        return self.call(what, sdk, self.api)

    def ping(self) -> None:
        what = f"ping {self.address}"
        if self._reads is not None:
            self.call(what, self._reads.raw, "/_ping")
        else:
            self.call(what, self.api.ping)

    # -- reading

    def info(self) -> dict[str, Any]:
        """GET /info: the engine's settings (its default address pools among them)."""
        found: dict[str, Any] = self._get("engine info", "/info", None, lambda api: api.info())
        return found

    def product(self) -> tuple[str, str]:
        """("docker" or "podman", its version), from GET /version; read once, and only where an
        engine's differences matter (apply's waits), so a no-op plan pays no round trip for it."""
        if self._product is None:
            found: dict[str, Any] = self._get("engine version", "/version", None, lambda api: api.version())
            names = {str(c.get("Name", "")) for c in found.get("Components") or [] if isinstance(c, dict)}
            kind = "podman" if "Podman Engine" in names else "docker"
            self._product = (kind, str(found.get("Version", "?")))
        return self._product

    def run_healthcheck(self, ident: str) -> None:
        """Podman only: run the container's healthcheck once now (libpod's endpoint). Podman runs
        healthchecks from systemd timers; where there is no systemd nothing else runs them."""
        path = f"/v4.0.0/libpod/containers/{quote(ident, safe='')}/healthcheck"
        api = self.api

        def run() -> None:
            api.get(f"{api.base_url}{path}", timeout=api.timeout).close()

        self.call(f"run the healthcheck of {ident}", run)

    def list_containers(self, label: str | None = None, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Every container, or those with the label, or those named exactly one of `names`."""
        filters: dict[str, Any] = {}
        if label:
            filters["label"] = label
        if names:
            filters["name"] = [f"^/{re.escape(n)}$" for n in names]  # the engine matches a regex
        params = {"all": 1, "limit": -1, "size": 0, "trunc_cmd": 0, "filters": _filters(filters)}
        found: list[dict[str, Any]] = self._get(
            "list containers", "/containers/json", params, lambda api: api.containers(all=True, filters=filters or None)
        )
        return found

    def inspect_container(self, ident: str) -> dict[str, Any] | None:
        return self._inspect(f"inspect container {ident}", "containers", ident, lambda api: api.inspect_container)

    def _inspect(
        self, what: str, kind: str, ident: str, sdk: Callable[[Any], Callable[[str], Any]]
    ) -> dict[str, Any] | None:
        """GET /<kind>/<ident>/json; None when the engine has no such object."""
        # an image's name has folders; a volume's answer has no /json
        path = f"/{kind}/{_segment(ident, '/:' if kind == 'images' else ':')}" + ("" if kind == "volumes" else "/json")
        try:
            found: dict[str, Any] = self._get(what, path, None, lambda api: sdk(api)(ident))
        except NotFound:  # only that: an engine that does not answer is not a missing object
            return None
        return found

    def list_networks(
        self, label: str | None = None, names: list[str] | None = None, ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {}
        if label:
            filters["label"] = label
        if names:
            filters["name"] = names
        if ids:
            filters["id"] = ids
        return self._listing("list networks", "/networks", filters, lambda api: api.networks(filters=filters or None))

    def list_volumes(self, label: str | None = None) -> list[dict[str, Any]]:
        filters = {"label": label} if label else None
        result = self._get("list volumes", "/volumes", {"filters": _filters(filters)}, lambda api: api.volumes(filters))
        return list(result.get("Volumes") or [])

    def inspect_volume(self, name: str) -> dict[str, Any] | None:
        return self._inspect(f"inspect volume {name}", "volumes", name, lambda api: api.inspect_volume)

    def image_id(self, ref: str) -> str | None:
        return self.image_facts(ref)[0]

    def image_facts(self, ref: str) -> tuple[str | None, tuple[str, ...]]:
        """The local image ID of a reference (None: absent) and its registry digests (repo@sha256:...)."""
        found = self._inspect_image(ref)
        if found is None:
            return None, ()
        return str(found["Id"]), tuple(found.get("RepoDigests") or ())

    def image_config(self, ref: str) -> dict[str, Any] | None:
        """An image's own config (its Cmd, Env, Labels...): what a container of it gets unless told otherwise."""
        found = self._inspect_image(ref)
        return None if found is None else dict(found.get("Config") or {})

    def _inspect_image(self, ref: str) -> dict[str, Any] | None:
        return self._inspect(f"inspect image {ref}", "images", ref, lambda api: api.inspect_image)

    # -- reading a Swarm manager

    def swarm_info(self) -> dict[str, Any]:
        """GET /swarm: answers on a manager only (a worker or a single engine: a 503)."""
        found: dict[str, Any] = self._get("read the swarm", "/swarm", None, lambda api: api.inspect_swarm())
        return found

    def list_services(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._listing("list services", "/services", filters, lambda api: api.services(filters=filters))

    def list_tasks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._listing("list tasks", "/tasks", filters, lambda api: api.tasks(filters=filters))

    def list_nodes(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._listing("list nodes", "/nodes", filters, lambda api: api.nodes(filters=filters))

    def list_configs(self, filters: dict[str, Any] | None = None, what: str = "list configs") -> list[dict[str, Any]]:
        return self._listing(what, "/configs", filters, lambda api: api.configs(filters=filters))

    def list_secrets(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._listing("list secrets", "/secrets", filters, lambda api: api.secrets(filters=filters))

    def _listing(
        self, what: str, path: str, filters: dict[str, Any] | None, sdk: Callable[[Any], Any]
    ) -> list[dict[str, Any]]:
        return list(self._get(what, path, {"filters": _filters(filters)}, sdk))

    def inspect_config(self, ident: str, what: str | None = None) -> dict[str, Any]:
        """A Swarm config with its data (raises NotFound)."""
        found: dict[str, Any] = self._get(
            what or f"inspect config {ident}",
            f"/configs/{_segment(ident)}",
            None,
            lambda api: api.inspect_config(ident),
        )
        return found

    def inspect_service(self, ident: str) -> dict[str, Any]:
        """A Swarm service (raises NotFound)."""
        found: dict[str, Any] = self._get(
            f"inspect service {ident}", f"/services/{_segment(ident)}", None, lambda api: api.inspect_service(ident)
        )
        return found

    def distribution(self, ref: str) -> dict[str, Any]:
        """The registry's descriptor of `ref`, asked through the engine. When the Docker config may
        hold credentials for it, the SDK sends them (X-Registry-Auth) as it always did: the stdlib
        path reads no credentials, so it goes only where the SDK would send none."""
        what = f"resolve {ref}"
        if self._reads is not None and not self._may_authenticate():
            found: dict[str, Any] = self.call(what, self._reads.get, f"/distribution/{_segment(ref, '/:')}/json")
        else:
            found = self.call(what, self.api.inspect_distribution, ref)
        return found

    def _may_authenticate(self) -> bool:
        if self._credentials is None:
            self._credentials = may_hold_credentials(docker_config())
        return self._credentials

    def pull(self, ref: str, platform: str | None = None) -> str:
        """`platform`: the image for that platform (a container's `platform`), not the engine's own."""
        repo, tag = _split_ref(ref)
        with translated(f"pull {ref}"):
            for event in self.api.pull(repo, tag=tag, stream=True, decode=True, platform=platform):
                if "error" in event:
                    raise EngineError(f"pull {ref}: {event['error']}")
        found = self.image_id(ref)
        if found is None:
            raise ImageMissing(f"pull {ref}: image still missing after pull")
        return found

    # -- containers

    def create_container(self, name: str, config: dict[str, Any], platform: str | None = None) -> str:
        with translated(f"create container {name}"):
            result = self.api.create_container_from_config(config, name=name, platform=platform)
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
        self.post_json(f"update container {ident}", f"/containers/{quote(ident, safe='')}/update", body)

    def post_json(self, what: str, path: str, body: dict[str, Any], params: dict[str, Any] | None = None) -> Any:
        """POST a JSON body to an endpoint the SDK has no call for (or whose call drops fields:
        `update_container` has no NanoCpus nor PidsLimit, `create_service` wants its own types),
        through the SDK's public session API, so remote engines' transports work as they are."""
        api = self.api

        def post() -> Any:
            from docker.errors import create_api_error_from_http_exception
            from requests.exceptions import HTTPError

            url = f"{api.base_url}/v{api.api_version}{path}"
            res = api.post(url, json=body, params=params, timeout=api.timeout)
            try:
                res.raise_for_status()
            except HTTPError as exc:
                create_api_error_from_http_exception(exc)  # raises docker.errors.APIError
            return res.json() if res.content else None

        return self.call(what, post)

    def connect(self, ident: str, network: str, aliases: list[str]) -> None:
        self.call(
            f"connect {ident} to {network}", self.api.connect_container_to_network, ident, network, aliases=aliases
        )

    def disconnect(self, ident: str, network: str) -> None:
        self.call(
            f"disconnect {ident} from {network}", self.api.disconnect_container_from_network, ident, network, force=True
        )

    def exec_run(self, ident: str, argv: list[str]) -> tuple[int, str]:
        """Run argv in a running container; its exit code and output (stdout and stderr together)."""

        def run() -> tuple[int, str]:
            made = self.api.exec_create(ident, argv, stdout=True, stderr=True)
            output = self.api.exec_start(made["Id"])
            code = self.api.exec_inspect(made["Id"]).get("ExitCode")
            return int(code if code is not None else -1), bytes(output).decode("utf-8", "replace")

        return self.call(f"exec {argv[0]} in {ident}", run)

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

    def put_files(self, ident: str, folder: str, files: dict[str, tuple[bytes, int]]) -> None:
        """Several files (name -> data, mode) into an existing folder, in one copy."""
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, (data, mode) in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = mode
                tar.addfile(info, io.BytesIO(data))
        self.call(f"copy files into {ident}:{folder}", self.api.put_archive, ident, folder, buf.getvalue())

    def is_folder(self, ident: str, path: str) -> bool:
        """Whether `path` is a folder in the container (running or not), from the engine's stat of it."""
        import base64

        with translated(f"stat {path} in {ident}"):
            api = self.api
            url = f"{api.base_url}/v{api.api_version}/containers/{quote(ident, safe='')}/archive"
            response = api.head(url, params={"path": path}, timeout=api.timeout)  # the stat is in a header
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
            raw = self._archive(ident, path, limit)
        except NotFound:
            return None
        if raw is None:
            return None
        import tarfile  # only where files are read or written: a no-op plan of a stack without files never is

        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar:
                if member.isfile():
                    fh = tar.extractfile(member)
                    return fh.read() if fh and member.size <= limit else None
        return None

    def _archive(self, ident: str, path: str, limit: int) -> bytes | None:
        """The tar the engine gives of `path` (None: over `limit`). On the local socket a tar over the
        limit and a little more (its headers) is refused as it arrives; the SDK is told by the stat header."""
        what = f"read {path} from {ident}"
        reads = self._reads
        if reads is None:
            stream, stat = self.call(what, self.api.get_archive, ident, path)
            return None if int(stat.get("size", 0)) > limit else b"".join(stream)

        def fetch() -> bytes | None:
            try:
                return reads.raw(f"/containers/{_segment(ident)}/archive", {"path": path}, limit + TAR_SLACK)
            except AnswerTooBig:
                return None

        return self.call(what, fetch)

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
        path = f"/networks/{_segment(ident)}"
        info = self._get(f"inspect network {ident}", path, None, lambda api: api.inspect_network(ident))
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

    def create_volume_if_absent(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        """Create a local volume unless one of that name exists; the labels of the volume the engine
        has under that name either way. The engine makes one volume of a name at a time and
        answers a create of an existing name with the existing volume, so of two machines creating
        the same name at once exactly one gets its own labels back (measured: docs/record.md)."""
        try:
            found = self.call(f"create volume {name}", self.api.create_volume, name, driver="local", labels=labels)
        except EngineUnreachable:
            raise
        except EngineError:
            # Podman looks the name up, then creates: the loser of a race is refused, not answered
            existing = self.inspect_volume(name)
            if existing is None:
                raise
            found = existing
        return dict(found.get("Labels") or {})

    def remove_volume(self, name: str) -> None:
        self.call(f"remove volume {name}", self.api.remove_volume, name)


def _filters(filters: dict[str, Any] | None) -> str | None:
    """Filters in the query as the SDK writes them: JSON, each value a list of strings."""
    if not filters:
        return None
    return json.dumps({k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in filters.items()})


def _segment(ident: str, safe: str = ":") -> str:
    return quote(ident, safe=safe)


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
