"""TLS to a tcp:// engine, as the docker CLI does it: flags, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""

from __future__ import annotations

import os
from typing import Any

from hostform.declare.errors import EngineError


def tls_settings(
    tls: bool = False,
    verify: bool = False,
    cacert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
) -> Any:
    """The docker CLI's TLS rules: --tlsverify or DOCKER_TLS_VERIFY (non-empty) verifies the engine
    against the CA; --tls alone encrypts without verifying; files default to DOCKER_CERT_PATH
    (or ~/.docker) as ca.pem, cert.pem and key.pem. None when TLS is not asked for."""
    verify = verify or bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (tls or verify or cacert or cert or key):
        return None
    folder = os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    files = {
        "--tlscacert": cacert or os.path.join(folder, "ca.pem"),
        "--tlscert": cert or os.path.join(folder, "cert.pem"),
        "--tlskey": key or os.path.join(folder, "key.pem"),
    }
    for flag, given in (("--tlscacert", cacert), ("--tlscert", cert), ("--tlskey", key)):
        if given and not os.path.isfile(given):
            raise EngineError(f"{flag} {given}: no such file")
    if verify and not os.path.isfile(files["--tlscacert"]):
        raise EngineError(f"TLS verification needs a CA certificate: {files['--tlscacert']} does not exist")
    from docker.tls import TLSConfig

    have_pair = os.path.isfile(files["--tlscert"]) and os.path.isfile(files["--tlskey"])
    return TLSConfig(
        client_cert=(files["--tlscert"], files["--tlskey"]) if have_pair else None,
        ca_cert=files["--tlscacert"] if verify else None,
        verify=verify,
    )


def engine_ca(ca: str, pool: int) -> Any:
    """A requests adapter for HTTPS verified against the engine's CA on every call. requests would
    otherwise take REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment over it, and refuse
    the engine. requests is imported here, when TLS is used: the local socket's reads never need it."""
    import requests
    import requests.adapters

    class EngineCA(requests.adapters.HTTPAdapter):
        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float | None, float | None] | None = None,
            verify: bool | str = True,
            cert: str | tuple[str, str] | None = None,
            proxies: dict[str, str] | None = None,
        ) -> requests.Response:
            return super().send(request, stream, timeout, ca, cert, proxies)

    return EngineCA(pool_maxsize=pool)
