"""Link errors: in the DockyardError tree, transient only where a retry can help, and each
pickles back with its message and attributes (Prefect stores failed states and results)."""

from __future__ import annotations

import pickle

import pytest

from dockyard.errors import DockyardError
from dockyard.ssh.errors import (
    AuthFailed,
    ChannelsBusy,
    CommandFailed,
    CommandTimeout,
    HostKeyRejected,
    LinkDown,
    LinkError,
    RemoteFileError,
    TransferTimeout,
)

HOST = "vm1 (root@10.0.0.5:22)"
ERRORS: list[tuple[LinkError, bool]] = [
    (LinkError(HOST, "vm1 refused a new channel: no"), False),
    (LinkDown(HOST, "no answer to keepalive probes for 6.0 s"), True),
    (HostKeyRejected(HOST, "10.0.0.5:22", "ssh-ed25519", "SHA256:abc", "unknown", "pin it"), False),
    (AuthFailed(HOST, "key refused", "add the public half"), False),
    (CommandFailed(HOST, "docker compose up", 3, "boom"), False),
    (CommandTimeout(HOST, "sleep 9", 1.5, killed=False), True),
    (TransferTimeout(HOST, "upload to /srv/app", 2.0), True),
    (ChannelsBusy(HOST, 8, 2.5), True),
    (RemoteFileError(HOST, "/srv/app/.env", "Permission denied"), False),
]


@pytest.mark.parametrize(("error", "transient"), ERRORS, ids=lambda e: type(e).__name__)
def test_each_link_error_is_a_dockyard_error_transient_only_if_a_retry_can_help(
    error: LinkError, transient: bool
) -> None:
    assert isinstance(error, DockyardError)
    assert error.transient is transient
    assert error.host == HOST


@pytest.mark.parametrize(("error", "transient"), ERRORS, ids=lambda e: type(e).__name__)
def test_each_link_error_pickles_with_its_message_and_attributes(
    error: LinkError, transient: bool
) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.__dict__ == error.__dict__
    assert back.transient is transient


def test_attributes_survive_the_round_trip_by_name() -> None:
    failed = pickle.loads(pickle.dumps(CommandFailed(HOST, "migrate", 2, "tail")))
    assert (failed.command, failed.exit_status, failed.stderr_tail) == ("migrate", 2, "tail")
    busy = pickle.loads(pickle.dumps(ChannelsBusy(HOST, 8, 2.5)))
    assert (busy.slots, busy.waited) == (8, 2.5)
    timeout = pickle.loads(pickle.dumps(TransferTimeout(HOST, "read of /x", 2.0)))
    assert (timeout.command, timeout.timeout, timeout.killed) == ("read of /x", 2.0, True)
    assert isinstance(timeout, CommandTimeout)


def test_timeout_messages_name_the_operation_and_the_timeout() -> None:
    assert str(TransferTimeout(HOST, "upload to /srv/app", 2.0)) == (
        f"upload to /srv/app on {HOST} ran past its 2 s timeout; stopped it"
    )
    assert str(CommandTimeout(HOST, "sleep 9", 1.5, killed=True)).endswith("timeout; killed it")
    assert "raise max_channels" in str(ChannelsBusy(HOST, 8, 2.5))
