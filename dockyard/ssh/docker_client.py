"""docker-py over the SSH link: each pooled HTTP connection rides one `docker system dial-stdio`
exec channel (what the docker CLI does over ssh), so keepalive, dead-peer detection and
rebuild apply to every engine call."""

from __future__ import annotations

from typing import Any

import docker
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from dockyard.commands import remote
from dockyard.ssh.link import ChannelSocket, Link

PLACEHOLDER_URL = "tcp://localhost:2375"


class _StdioConnection(HTTPConnection):
    """An HTTP connection whose socket is a dial-stdio channel on the link."""

    def __init__(self, link: Link, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._link = link
        self._channel_timeout = timeout

    def connect(self) -> None:
        self.sock = self._link.open_stdio(remote.dial_stdio(), timeout=self._channel_timeout)

    @property
    def is_connected(self) -> bool:
        """Reusable only while its channel is open on a live connection (no fileno polling)."""
        return isinstance(self.sock, ChannelSocket) and self.sock.usable


class _StdioPool(HTTPConnectionPool):
    """A pool of dial-stdio connections on one link."""

    def __init__(self, link: Link, timeout: float, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._link = link
        self._channel_timeout = timeout

    def _new_conn(self) -> _StdioConnection:
        self.num_connections += 1
        return _StdioConnection(self._link, self._channel_timeout)


class _StdioAdapter(HTTPAdapter):
    """Sends every request of a session through the link's dial-stdio pool."""

    def __init__(self, link: Link, timeout: float, max_connections: int) -> None:
        super().__init__()
        self._pool = _StdioPool(link, timeout, max_connections)

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> _StdioPool:
        return self._pool

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return request.path_url

    def close(self) -> None:
        super().close()
        self._pool.close()


class _LinkAPIClient(docker.APIClient):
    """docker.APIClient whose requests all go through a _StdioAdapter."""

    def __init__(self, adapter: _StdioAdapter, timeout: float, version: str) -> None:
        self._link_adapter = adapter
        super().__init__(base_url=PLACEHOLDER_URL, version=version, timeout=timeout)

    def get_adapter(self, url: str) -> HTTPAdapter:
        return self._link_adapter

    def close(self) -> None:
        super().close()
        self._link_adapter.close()


class LinkDockerClient(docker.DockerClient):
    """docker.DockerClient on an SSH link. DockerClient.__init__ only builds an APIClient from
    its arguments; this builds one that talks through the link instead."""

    def __init__(self, link: Link, timeout: float, max_connections: int, version: str) -> None:
        adapter = _StdioAdapter(link, timeout, max_connections)
        self.api = _LinkAPIClient(adapter, timeout, version)


def docker_client(
    link: Link, timeout: float = 60, *, max_connections: int = 4, version: str = "auto"
) -> docker.DockerClient:
    """A docker-py client for the engine behind `link`.

    Every request is bounded: timeout=None from docker-py (as pull and logs pass) means
    `timeout` seconds without a byte. A link that dies mid-call raises LinkDown within the
    keepalive detection window; the next call rides a rebuilt connection. Each pooled
    connection holds one of the link's channels (max_connections of them at most when idle).
    """
    return LinkDockerClient(link, timeout, max_connections, version)
