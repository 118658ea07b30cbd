"""Lab fault proxy: loopback TCP routes that idle-drop, freeze, reset, throttle or 503 traffic."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import inspect
import json
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from dockyard.lab.faultproxy_relay import (
    FAULT_NAMES,
    DuplicateRoute,
    FaultProxyError,
    InvalidFault,
    NotLoopback,
    Route,
    UnknownRoute,
)

__all__ = [
    "ControlServer",
    "DuplicateRoute",
    "FaultProxy",
    "FaultProxyError",
    "InvalidFault",
    "NotLoopback",
    "ProxyControl",
    "UnknownRoute",
    "main",
]

_ERRORS: dict[str, type[FaultProxyError]] = {
    cls.__name__: cls for cls in (DuplicateRoute, InvalidFault, NotLoopback, UnknownRoute)
}


class FaultProxy:
    """Hosts routes on an asyncio loop in a daemon thread; every method is thread-safe and
    gives up with TimeoutError after `timeout` seconds."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="faultproxy", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_route(
        self,
        name: str,
        listen_port: int,
        target_port: int,
        http: bool = False,
        target_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
    ) -> int:
        """Listen on `listen_host`:`listen_port` (0 picks one) and forward to the loopback
        target; returns the port listened on. `http=True` frames requests so http_503 can
        apply."""
        return self._call(
            self._add_route, name, listen_host, listen_port, target_host, target_port, http
        )

    def set_faults(self, name: str, /, **faults: Any) -> dict[str, Any]:
        """Merge `faults` into the route's faults (a None value clears that one); returns them all.

        idle_drop=seconds, freeze=bool, reset_after=bytes, throttle=bytes_per_s,
        http_503={"count": n, "path": regex}."""
        return self._call(lambda: self._route(name).set_faults(faults))

    def clear_faults(self, name: str, /, *faults: str) -> dict[str, Any]:
        """Clear the named faults, or all of them; returns the route's faults."""
        return self.set_faults(name, **dict.fromkeys(faults or FAULT_NAMES))

    def stats(self, name: str) -> dict[str, Any]:
        """Bytes up (client->server) and down, connections, active, and the HTTP request log."""
        return self._call(lambda: self._route(name).stats())

    def reset_stats(self, name: str) -> None:
        """Zero the route's counters and empty its request log."""
        self._call(lambda: self._route(name).reset_stats())

    def routes(self) -> dict[str, dict[str, Any]]:
        """Every route by name: listen_port, target_port, http and current faults."""
        return self._call(lambda: {name: r.describe() for name, r in self._routes.items()})

    def close(self) -> None:
        """Close every route and connection and stop the loop thread; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                self._call(self._shutdown)
            finally:
                self._closed = True
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(self._timeout)
                if not self._thread.is_alive():
                    self._loop.close()

    async def _add_route(
        self,
        name: str,
        listen_host: str,
        listen_port: int,
        target_host: str,
        target_port: int,
        http: bool,
    ) -> int:
        if name in self._routes:
            raise DuplicateRoute(f"route {name!r} exists already; pick another name")
        route = Route(target_host, target_port, http)
        route.server = await asyncio.start_server(route.accept, listen_host, listen_port)
        self._routes[name] = route
        return route.describe()["listen_port"]

    async def _shutdown(self) -> None:
        for route in self._routes.values():
            route.close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    def _route(self, name: str) -> Route:
        if name not in self._routes:
            raise UnknownRoute(f"no route {name!r}; routes are {sorted(self._routes)}")
        return self._routes[name]

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed:
            raise FaultProxyError("the fault proxy is closed")

        async def in_loop() -> Any:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result

        future = asyncio.run_coroutine_threadsafe(in_loop(), self._loop)
        try:
            return future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise


class ControlServer(ThreadingHTTPServer):
    """JSON control endpoints for a FaultProxy on 127.0.0.1:`port` (0 picks one)."""

    def __init__(self, proxy: FaultProxy, port: int) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _ControlHandler)


class _ControlHandler(BaseHTTPRequestHandler):
    timeout = 10.0
    server: ControlServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the control server quiet; the proxy's callers log what they do."""

    def _handle(self, method: str) -> None:
        parts = [unquote(part) for part in urlsplit(self.path).path.strip("/").split("/")]
        try:
            if method == "GET" and parts == ["routes"]:
                self._reply(200, self.server.proxy.routes())
            elif len(parts) == 3 and parts[0] == "routes":
                self._route_action(method, parts[1], parts[2])
            else:
                self._reply(404, {"error": f"no endpoint {method} {self.path}"})
        except UnknownRoute as exc:
            self._reply(404, {"error": str(exc), "kind": type(exc).__name__})
        except (FaultProxyError, ValueError, OSError) as exc:
            self._reply(400, {"error": str(exc), "kind": type(exc).__name__})
        except TimeoutError:
            self._reply(504, {"error": "the proxy loop did not answer in time"})

    def _route_action(self, method: str, name: str, action: str) -> None:
        proxy = self.server.proxy
        match method, action:
            case "GET", "stats":
                self._reply(200, proxy.stats(name))
            case "POST", "faults":
                self._reply(200, proxy.set_faults(name, **self._json_object()))
            case "DELETE", "faults":
                self._reply(200, proxy.clear_faults(name))
            case "POST", "add":
                self._reply(200, {"listen_port": proxy.add_route(name, **self._route_body())})
            case "POST", "reset-stats":
                proxy.reset_stats(name)
                self._reply(200, {})
            case _:
                self._reply(404, {"error": f"no endpoint {method} {self.path}"})

    def _json_object(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not isinstance(body, dict):
            raise InvalidFault("the faults body must be a JSON object")
        return body

    def _route_body(self) -> dict[str, Any]:
        body = self._json_object()
        fields = {"listen_host": str, "listen_port": int, "target_port": int, "http": bool}
        if set(body) - set(fields) or not {"listen_port", "target_port"} <= set(body):
            raise ValueError(f"a route body has listen_port, target_port, and may have "
                             f"listen_host and http; got {sorted(body)}")  # fmt: skip
        if not all(isinstance(body[key], fields[key]) for key in body):
            raise ValueError(f"route body {body} has a value of the wrong type")
        return body

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ProxyControl:
    """Client of a standalone proxy's control server, with FaultProxy's methods; each call
    gives up after `timeout` seconds per connect/send/receive."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url {base_url!r} must look like http://127.0.0.1:5010")
        self._host, self._port, self._timeout = parts.hostname, parts.port or 80, timeout

    def set_faults(self, name: str, /, **faults: Any) -> dict[str, Any]:
        """Merge `faults` into the route's faults (None clears one); returns them all."""
        return self._request("POST", f"{self._path(name)}/faults", faults)

    def clear_faults(self, name: str, /, *faults: str) -> dict[str, Any]:
        """Clear the named faults, or all of them; returns the route's faults."""
        if faults:
            return self.set_faults(name, **dict.fromkeys(faults))
        return self._request("DELETE", f"{self._path(name)}/faults")

    def stats(self, name: str) -> dict[str, Any]:
        """The route's counters and HTTP request log."""
        return self._request("GET", f"{self._path(name)}/stats")

    def reset_stats(self, name: str) -> None:
        """Zero the route's counters and empty its request log."""
        self._request("POST", f"{self._path(name)}/reset-stats", {})

    def add_route(
        self,
        name: str,
        listen_port: int,
        target_port: int,
        http: bool = False,
        listen_host: str = "127.0.0.1",
    ) -> int:
        """Add a route to the running proxy (to a loopback target); returns its listen port."""
        body = {"listen_host": listen_host, "listen_port": listen_port,
                "target_port": target_port, "http": http}  # fmt: skip
        return self._request("POST", f"{self._path(name)}/add", body)["listen_port"]

    def routes(self) -> dict[str, dict[str, Any]]:
        """Every route by name: listen_port, target_port, http and current faults."""
        return self._request("GET", "/routes")

    def _path(self, name: str) -> str:
        return f"/routes/{quote(name, safe='')}"

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"null")
        finally:
            conn.close()
        if response.status >= 400:
            error = _ERRORS.get(payload.get("kind", ""), FaultProxyError)
            raise error(payload.get("error", f"HTTP {response.status} from {method} {path}"))
        return payload


def _route_spec(text: str) -> tuple[str, int, int, bool]:
    name, _, rest = text.partition("=")
    fields = rest.split(":")
    http = fields[-1] == "http"
    ports = fields[:-1] if http else fields
    if not name or len(ports) != 2 or not all(port.isdigit() for port in ports):
        raise argparse.ArgumentTypeError(f"route {text!r}: expected NAME=LISTEN:TARGET[:http]")
    return name, int(ports[0]), int(ports[1]), http


def main(argv: list[str] | None = None) -> int:
    """Run routes and a control server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m dockyard.lab.faultproxy", description=__doc__)
    parser.add_argument("--control-port", type=int, required=True, help="0 picks a free port")
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        type=_route_spec,
        metavar="NAME=LISTEN:TARGET[:http]",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FaultProxy() as proxy:
        for name, listen_port, target_port, http in args.route:
            proxy.add_route(name, listen_port, target_port, http=http)
        with ControlServer(proxy, args.control_port) as server:
            threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True).start()
            ready = {"control_port": server.server_address[1], "routes": proxy.routes()}
            print(json.dumps(ready), flush=True)
            while not stop.wait(0.5):
                pass
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
