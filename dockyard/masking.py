"""Replace secret values with *** in any text dockyard prints, logs or records."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"


class Masker:
    """Masks a fixed set of secret values (longest first, so overlaps mask fully)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)
