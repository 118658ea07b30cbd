"""Prefect Secret blocks by name, read over Prefect's REST API with httpx alone (no Prefect
import, ~1 s of a CLI run), from the environment's API URL and auth; whatever this read cannot
settle (auth from a Prefect profile, custom TLS, an odd answer) it leaves to Prefect's client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from urllib.parse import quote

import httpx

TIMEOUT = 10.0  # the whole read: connect, request, every chunk of the answer
MAX_BYTES = 1 << 20


class AskPrefect(Exception):
    """This read cannot settle the lookup: ask Prefect's own client (it reads the profile)."""


def secret_block_name(name: str) -> str:
    """The Secret block holding `${secret:NAME}`: NAME in lowercase with `_` as `-`."""
    return name.lower().replace("_", "-")


def _headers(environ: Mapping[str, str]) -> dict[str, str]:
    """Prefect's own choice: the auth string (basic) first, else the API key (bearer)."""
    if auth := environ.get("PREFECT_API_AUTH_STRING"):
        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    if key := environ.get("PREFECT_API_KEY"):
        return {"Authorization": f"Bearer {key}"}
    return {}


def read_secret_block(
    block: str, environ: Mapping[str, str], timeout: float = TIMEOUT
) -> str | None:
    """The string value of Secret block `block`; None when the API has no such block. Raises
    AskPrefect for anything else (no URL, TLS settings of its own, refused auth, an answer that
    is not a string secret, a network error or the `timeout`)."""
    url = environ.get("PREFECT_API_URL", "").rstrip("/")
    tls_own = ("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "PREFECT_API_SSL_CERT_FILE")
    if not url.startswith(("http://", "https://")) or any(environ.get(k) for k in tls_own):
        raise AskPrefect
    path = f"{url}/block_types/slug/secret/block_documents/name/{quote(block, safe='')}"
    end = time.monotonic() + timeout
    body = bytearray()
    params = {"include_secrets": "true"}
    try:
        with httpx.Client(timeout=timeout, headers=_headers(environ)) as client, \
                client.stream("GET", path, params=params) as reply:  # fmt: skip
            if reply.status_code == 404:
                return None
            if reply.status_code != 200:
                raise AskPrefect
            for chunk in reply.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES or time.monotonic() > end:
                    raise AskPrefect
    except httpx.HTTPError:
        raise AskPrefect from None
    try:
        value = json.loads(body)["data"]["value"]
    except (ValueError, KeyError, TypeError):
        raise AskPrefect from None
    if not isinstance(value, str):
        raise AskPrefect
    return value
