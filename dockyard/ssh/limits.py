"""Rules of the link's tuning, shared by deploy.yaml validation and LinkSettings."""

from __future__ import annotations

SSHD_MAX_SESSIONS = 10  # OpenSSH's default MaxSessions: channels per connection
MAX_CHANNELS = SSHD_MAX_SESSIONS - 1
KEEPALIVE_FIX = "set keepalive_count_max: 4, or keepalive_interval: 0 to turn keepalive off"


def keepalive_problem(interval: float, count_max: int) -> str | None:
    """What is wrong with a keepalive setting (None: nothing)."""
    if interval < 0:
        return "keepalive_interval must be >= 0 (0 turns it off)"
    if interval > 0 and count_max < 1:
        return "keepalive_count_max must be at least 1 when keepalive is on"
    return None
