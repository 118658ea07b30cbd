"""The SSH link against the lab's real sshd and engine, through the fault proxy."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import resource
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.images import BuiltImage, RandomLayer, RegistryPusher, SyntheticImage, build
from dockyard.lab.lab import Lab
from dockyard.ssh import execute
from dockyard.ssh.docker_client import docker_client
from dockyard.ssh.errors import (
    AuthFailed,
    ChannelsBusy,
    CommandFailed,
    CommandTimeout,
    HostKeyRejected,
    LinkDown,
    OutputTooLarge,
    RemoteFileError,
    TransferTimeout,
)
from dockyard.ssh.link import Link
from dockyard.ssh.pool import LinkPool
from dockyard.ssh.settings import LinkSettings

IDLE_DROP = 6.0
SILENT_SECONDS = 15
INTERVAL = 2.0
COUNT_MAX = 3
MB = 1024 * 1024
PULL_THROTTLE = 4 * MB
RESET_BUDGET = 256 * 1024
SLOW_LINK = 256 * 1024
SPLIT = SyntheticImage(
    "dockyard-test/split",
    "v1",
    layers=(
        RandomLayer("dockyard-test-split-small", 1 * MB),
        RandomLayer("dockyard-test-split-large", 16 * MB),
    ),
)


def link_settings(lab: Lab, **overrides: Any) -> LinkSettings:
    """vm1 through the fault proxy, with a short keepalive so faults show quickly."""
    values: dict[str, Any] = {
        "name": "vm1",
        "host": "127.0.0.1",
        "port": lab.layout.ports.ssh,
        "key_file": lab.layout.client_key,
        "known_hosts": lab.layout.known_hosts,
        "keepalive_interval": INTERVAL,
        "keepalive_count_max": COUNT_MAX,
        "connect_timeout": 5,
    }
    values.update(overrides)
    return LinkSettings(**values)


@pytest.fixture()
def link(lab: Lab) -> Iterator[Link]:
    with Link(link_settings(lab)) as opened:
        yield opened


@pytest.fixture()
def direct(lab: Lab) -> Iterator[Link]:
    """A link straight to sshd (no proxy), for checks that must not see the faults."""
    with Link(link_settings(lab, port=lab.layout.ports.sshd)) as opened:
        yield opened


@pytest.fixture()
def authorized_keys(lab: Lab) -> Iterator[Path]:
    """The lab's authorized_keys; lines a test appends are removed afterwards."""
    path = lab.layout.ssh_dir / "authorized_keys"
    before = set(path.read_text().splitlines())
    yield path
    kept = [line for line in path.read_text().splitlines() if line in before]
    path.write_text("".join(f"{line}\n" for line in kept))


def keygen(path: Path, kind: str, passphrase: str = "") -> str:
    """Make a key pair at path; returns the public key line."""
    bits = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            kind,
            *bits,
            "-N",
            passphrase,
            "-C",
            "dockyard-test",
            "-f",
            path,
        ],
        check=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


@pytest.mark.timeout(60)
def test_keepalive_keeps_a_silent_command_alive_through_a_nat_idle_drop(
    lab: Lab, proxy: ProxyControl, link: Link
) -> None:
    proxy.set_faults("ssh", idle_drop=IDLE_DROP)
    result = link.run(f"sleep {SILENT_SECONDS}; echo done", timeout=SILENT_SECONDS + 20)
    _assert_idle_drop_held(proxy)
    assert result.stdout == "done\n"
    assert link.rebuilds == 0


@pytest.mark.timeout(60)
def test_without_keepalive_the_idle_drop_kills_the_link_like_the_incident(
    lab: Lab, proxy: ProxyControl
) -> None:
    proxy.set_faults("ssh", idle_drop=IDLE_DROP)
    caught: LinkDown | None = None
    with Link(link_settings(lab, keepalive_interval=0)) as link:
        started = time.monotonic()
        try:
            link.run(f"sleep {SILENT_SECONDS}; echo done", timeout=SILENT_SECONDS + 20)
        except LinkDown as exc:
            caught = exc
        elapsed = time.monotonic() - started
    _assert_idle_drop_held(proxy)
    assert caught is not None, "the silent command survived the idle drop without keepalive"
    print(f"\nkeepalive off: LinkDown after {elapsed:.1f} s of silence: {caught}")
    assert IDLE_DROP - 1 <= elapsed < SILENT_SECONDS


def _assert_idle_drop_held(proxy: ProxyControl) -> None:
    """The proxy is shared by every session on this machine: make sure nobody else's
    `proxy` fixture cleared our fault while the command ran."""
    held = proxy.routes()["ssh"]["faults"]["idle_drop"]
    assert held == IDLE_DROP, "another session cleared the idle_drop fault mid-test; rerun"


@pytest.mark.timeout(60)
def test_a_frozen_link_is_declared_down_within_the_window_and_rebuilt(
    lab: Lab, proxy: ProxyControl
) -> None:
    pool = LinkPool()
    pool.register(link_settings(lab))
    link = pool.get("vm1")
    first_connect = link.connect_seconds
    frozen_at: list[float] = []

    def freeze_once_started(stream: str, line: str) -> None:
        if line == "started" and not frozen_at:
            proxy.set_faults("ssh", freeze=True)
            frozen_at.append(time.monotonic())

    try:
        with pytest.raises(LinkDown) as caught:
            link.run("echo started; sleep 20", timeout=60, on_output=freeze_once_started)
        detected = time.monotonic() - frozen_at[0]
        with Link(link_settings(lab, connect_timeout=2)) as late, pytest.raises(LinkDown) as hung:
            started = time.monotonic()
            late.connect()
        gave_up = time.monotonic() - started
    finally:
        proxy.clear_faults("ssh")
    print(f"\nconnect to a frozen route gave up after {gave_up:.1f} s: {hung.value}")
    assert gave_up < 2 + 1.5
    window = INTERVAL * COUNT_MAX
    print(f"\nfrozen link: LinkDown {detected:.2f} s after the freeze (window {window:g} s)")
    print(f"  {caught.value}")
    assert detected <= window + 2
    assert not link.alive

    started = time.monotonic()
    rebuilt = pool.get("vm1")
    assert rebuilt is link
    assert rebuilt.run("echo back", timeout=10).stdout == "back\n"
    print(
        f"rebuild: connect+auth {link.connect_seconds * 1000:.0f} ms (first connect "
        f"{(first_connect or 0) * 1000:.0f} ms); rebuild + first command "
        f"{(time.monotonic() - started) * 1000:.0f} ms"
    )
    assert link.rebuilds == 1
    pool.close_all()


def _remove_image(client: docker.DockerClient, ref: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(ref)


@pytest.fixture(scope="module")
def split_image(lab: Lab) -> BuiltImage:
    """A test-only image whose small layer finishes while its large one still downloads."""
    built = build(SPLIT)
    with RegistryPusher(f"http://127.0.0.1:{lab.layout.ports.registry_direct}") as pusher:
        pusher.push(built)
    return built


@pytest.mark.timeout(120)
def test_reset_mid_pull_is_link_down_and_the_retry_completes_on_a_rebuilt_link(
    lab: Lab, proxy: ProxyControl, link: Link, direct: Link, split_image: BuiltImage
) -> None:
    built = split_image
    repo = f"{lab.layout.registry_host}/{SPLIT.repository}"
    ids = [layer.digest[7:19] for layer in built.layers]
    small, large = ids[1], ids[2]
    engine = docker_client(direct, timeout=60)
    client = docker_client(link, timeout=60)
    try:
        _remove_image(engine, f"{repo}:v1")
        proxy.set_faults("registry", throttle=PULL_THROTTLE)
        before = proxy.stats("registry")["down"]
        first: dict[str, str] = {}
        reset_at: list[float] = []
        with pytest.raises(LinkDown) as caught:
            for event in client.api.pull(repo, tag="v1", stream=True, decode=True):
                assert "error" not in event, event
                first[event.get("id", "")] = event.get("status", "")
                if first.get(small) == "Pull complete" and not reset_at:
                    reset_at.append(_reset_own_connection(proxy, link))
        noticed = time.monotonic() - reset_at[0]
        middle = proxy.stats("registry")["down"]
        proxy.clear_faults("registry")
        proxy.clear_faults("ssh")

        second: dict[str, str] = {}
        for event in client.api.pull(repo, tag="v1", stream=True, decode=True):
            assert "error" not in event, event
            second.setdefault(event.get("id", ""), event.get("status", ""))
        after = proxy.stats("registry")["down"]
        digests = engine.images.get(f"{repo}:v1").attrs["RepoDigests"]
    finally:
        _remove_image(engine, f"{repo}:v1")
        client.close()
        engine.close()

    missing = [
        layer for layer, i in zip(built.layers, ids, strict=True) if first[i] != "Already exists"
    ]
    needed = sum(len(layer.data) for layer in missing) + len(built.config.data)
    mb = 1024 * 1024
    print(
        f"\nreset mid-pull: LinkDown {noticed * 1000:.0f} ms after the reset ({caught.value})\n"
        f"  image {built.size / mb:.1f} MB, {needed / mb:.1f} MB of it missing on the engine; "
        f"registry sent {(middle - before) / mb:.1f} MB before the reset and "
        f"{(after - middle) / mb:.1f} MB for the retry\n"
        f"  the layer that reached {first[small]!r} before the reset was "
        f"{'reused' if second[small] == 'Already exists' else 'downloaded again'} on retry"
    )
    assert noticed < 2
    assert first[large] != "Pull complete"
    assert digests == [f"{repo}@{built.digest}"]
    assert after - before < 2 * built.size
    assert link.rebuilds == 1


def _reset_own_connection(proxy: ProxyControl, link: Link) -> float:
    """Arm a route-wide reset and push bulk bytes through our own connection, so it is ours
    that crosses the budget, not another session's idle link on the shared route."""
    proxy.set_faults("ssh", reset_after=RESET_BUDGET)
    armed = time.monotonic()

    def flood() -> None:
        with contextlib.suppress(LinkDown):
            link.run("head -c 100000000 /dev/zero", timeout=30)

    threading.Thread(target=flood, daemon=True).start()
    return armed


@pytest.mark.timeout(60)
def test_a_docker_stream_on_a_frozen_link_raises_link_down_within_the_window(
    lab: Lab, proxy: ProxyControl, link: Link
) -> None:
    client = docker_client(link, timeout=60)
    try:
        events = client.api.events(decode=True)
        proxy.set_faults("ssh", freeze=True)
        frozen_at = time.monotonic()
        try:
            with pytest.raises(LinkDown):
                next(events)
            detected = time.monotonic() - frozen_at
        finally:
            proxy.clear_faults("ssh")
        print(f"\nfrozen docker stream: LinkDown {detected:.2f} s after the freeze")
        assert detected <= INTERVAL * COUNT_MAX + 2
        assert client.version()["ApiVersion"]
        assert link.rebuilds == 1
    finally:
        client.close()


@pytest.mark.parametrize("pin", ["known_hosts", "host_key"])
def test_a_changed_host_key_is_refused_before_any_command(
    lab: Lab, tmp_path: Path, pin: str
) -> None:
    other = " ".join(lab.layout.client_key.with_suffix(".pub").read_text().split()[:2])
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{lab.layout.ports.ssh} {other}\n")
    pinned = {"known_hosts": wrong} if pin == "known_hosts" else {"known_hosts": None}
    if pin == "host_key":
        pinned["host_key"] = other
    marker = Path(f"/tmp/dockyard-marker-{uuid.uuid4().hex}")
    with Link(link_settings(lab, **pinned)) as link, pytest.raises(HostKeyRejected) as caught:
        link.run(f"touch {marker}", timeout=10)
    message = str(caught.value)
    print(f"\n{message}")
    assert not marker.exists()
    host_fingerprint = _host_fingerprint(lab)
    assert host_fingerprint in message
    assert "differs from the pinned" in message
    assert f"ssh-keyscan -p {lab.layout.ports.ssh} 127.0.0.1" in message


def test_an_unknown_host_is_refused_before_any_command(lab: Lab, tmp_path: Path) -> None:
    unrelated = tmp_path / "known_hosts"
    unrelated.write_text(
        lab.layout.known_hosts.read_text().replace(f"[127.0.0.1]:{lab.layout.ports.ssh} ", "[x]:1 ")
    )
    marker = Path(f"/tmp/dockyard-marker-{uuid.uuid4().hex}")
    with (
        Link(link_settings(lab, known_hosts=unrelated)) as link,
        pytest.raises(HostKeyRejected) as caught,
    ):
        link.run(f"touch {marker}", timeout=10)
    message = str(caught.value)
    print(f"\n{message}")
    assert not marker.exists()
    assert _host_fingerprint(lab) in message
    host_key = (lab.layout.ssh_dir / "ssh_host_ed25519_key.pub").read_text().split()[1]
    assert f"[127.0.0.1]:{lab.layout.ports.ssh} ssh-ed25519 {host_key}" in message
    assert f"ssh-keyscan -p {lab.layout.ports.ssh} 127.0.0.1 >> {unrelated}" in message


def _host_fingerprint(lab: Lab) -> str:
    done = subprocess.run(
        ["ssh-keygen", "-lf", lab.layout.ssh_dir / "ssh_host_ed25519_key.pub"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout.split()[1]


def test_a_non_zero_exit_is_a_command_failure_with_the_stderr_tail(link: Link) -> None:
    script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 7"
    with pytest.raises(CommandFailed) as caught:
        link.run(script, timeout=10)
    assert caught.value.exit_status == 7
    assert caught.value.stderr_tail.splitlines()[-1] == "line30"
    assert "line1\n" not in caught.value.stderr_tail
    assert "exited with 7" in str(caught.value)
    assert link.run(script, timeout=10, check=False).exit_status == 7


def test_output_streams_line_by_line_while_the_command_runs(link: Link) -> None:
    seen: list[tuple[float, str, str]] = []
    started = time.monotonic()
    link.run(
        "echo one; sleep 1; echo two >&2; sleep 1; printf three",
        timeout=10,
        on_output=lambda stream, line: seen.append((time.monotonic() - started, stream, line)),
    )
    assert [(s, line) for _, s, line in seen] == [
        ("stdout", "one"),
        ("stderr", "two"),
        ("stdout", "three"),
    ]
    assert seen[0][0] < 0.9 < seen[1][0] < 1.9 < seen[2][0]


def test_stdin_reaches_the_command(link: Link) -> None:
    data = os.urandom(300_000)
    result = link.run("sha256sum", timeout=20, stdin=data)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_a_command_past_its_timeout_is_killed_on_the_host(link: Link, direct: Link) -> None:
    marker = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        link.run(f"sleep 3001 & sleep 3002; echo {marker}", timeout=1.5)
    elapsed = time.monotonic() - started
    assert caught.value.killed
    assert elapsed < 1.5 + 5
    processes = direct.run("ps -eo pid,pgid,args", timeout=10).stdout
    assert marker not in processes
    assert "sleep 3001" not in processes
    assert "sleep 3002" not in processes


@pytest.mark.timeout(120)
def test_a_chatty_command_is_killed_past_the_output_cap_without_growing_memory(
    link: Link, direct: Link
) -> None:
    marker = uuid.uuid4().hex
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = 0

    def count(_stream: str, _line: str) -> None:
        nonlocal lines
        lines += 1

    with pytest.raises(OutputTooLarge) as caught:
        link.run(f"yes {marker}", timeout=100, on_output=count)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert caught.value.killed and caught.value.limit == execute.OUTPUT_CAP
    assert "printed over" in str(caught.value) and not caught.value.transient
    assert grown < 2 * execute.OUTPUT_KEPT / MB + 64, f"RSS grew {grown:.0f} MiB"
    assert lines > execute.OUTPUT_CAP // (len(marker) + 1) - 100  # every line was streamed
    assert marker not in direct.run("ps -eo args", timeout=10).stdout


def test_a_long_output_under_the_cap_keeps_its_end(
    link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execute, "OUTPUT_KEPT", 1 * MB)
    result = link.run("seq 1 1000000", timeout=60)
    assert result.stdout.endswith("\n999999\n1000000\n")
    assert (
        len(result.stdout) == 1 * MB
        and result.dropped == len("".join(f"{n}\n" for n in range(1, 1000001))) - 1 * MB
    )


def test_secrets_in_env_stay_off_the_process_list_out_of_errors_and_logs(
    link: Link, direct: Link, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"s3cr3t 'quoted' {uuid.uuid4().hex}"
    env = {"DB_PASSWORD": secret}
    results: list[str] = []
    runner = threading.Thread(
        target=lambda: results.append(
            link.run('sleep 2; printf %s "$DB_PASSWORD" | sha256sum', timeout=20, env=env).stdout
        )
    )
    runner.start()
    time.sleep(1)
    during = direct.run("ps -eo args", timeout=10).stdout
    env_files = direct.run("ls -a ~/.dockyard-run | grep '[.]env$'", timeout=10, check=False)
    runner.join(30)
    assert "sleep 2" in during
    assert secret not in during
    assert env_files.stdout == ""
    assert results[0].split()[0] == hashlib.sha256(secret.encode()).hexdigest()

    lines: list[str] = []
    with pytest.raises(CommandFailed) as caught:
        link.run(
            'echo "password is $DB_PASSWORD" >&2; exit 1',
            timeout=10,
            env=env,
            on_output=lambda stream, line: lines.append(line),
        )
    assert secret not in str(caught.value)
    assert "password is ***" in str(caught.value)
    assert lines == ["password is ***"]
    assert secret not in caplog.text


def test_encrypted_and_in_memory_keys_of_each_type_authenticate(
    lab: Lab, tmp_path: Path, authorized_keys: Path
) -> None:
    lines = [
        keygen(tmp_path / "ed", "ed25519", "pass phrase 1"),
        keygen(tmp_path / "rsa", "rsa", "pass phrase 2"),
        keygen(tmp_path / "ecdsa", "ecdsa"),
    ]
    keygen(tmp_path / "stranger", "ed25519")
    with authorized_keys.open("a") as handle:
        handle.write("".join(f"{line}\n" for line in lines))
    cases = [
        {"key_file": tmp_path / "ed", "key_passphrase": "pass phrase 1"},
        {"key_data": (tmp_path / "rsa").read_text(), "key_passphrase": "pass phrase 2"},
        {"key_data": (tmp_path / "ecdsa").read_text()},
        {"key_data": lab.layout.client_key.read_text()},
    ]
    for case in cases:
        values = {"key_file": None, **case}
        with Link(link_settings(lab, **values)) as link:
            assert link.run("echo ok", timeout=10).stdout == "ok\n"

    refused = [
        ({"key_file": tmp_path / "ed", "key_passphrase": "wrong"}, "cannot decrypt"),
        ({"key_file": tmp_path / "ed"}, "no passphrase"),
        ({"key_data": "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n"}, "cannot decrypt or parse"),
        ({"key_file": tmp_path / "stranger"}, "authorized_keys"),
    ]
    for case, expected in refused:
        values = {"key_file": None, **case}
        with Link(link_settings(lab, **values)) as link, pytest.raises(AuthFailed) as caught:
            link.connect()
        assert expected in str(caught.value)
        assert "pass phrase" not in str(caught.value)


def test_the_agent_authenticates(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", lab.layout.client_key], env=env, check=True, timeout=10)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with Link(link_settings(lab, key_file=None, use_agent=True)) as link:
            assert link.run("echo agent", timeout=10).stdout == "agent\n"
    finally:
        agent.terminate()
        agent.wait(10)


def test_channels_are_capped_and_many_commands_share_one_link(lab: Lab) -> None:
    with Link(link_settings(lab, max_channels=2)) as link:
        busy = [
            threading.Thread(target=link.run, args=("sleep 2",), kwargs={"timeout": 10})
            for _ in range(2)
        ]
        for thread in busy:
            thread.start()
        time.sleep(0.5)
        with pytest.raises(ChannelsBusy):
            link.run("echo squeezed", timeout=0.5)
        for thread in busy:
            thread.join(10)
    with Link(link_settings(lab)) as link:
        outputs: list[str] = []
        threads = [
            threading.Thread(
                target=lambda n=n: outputs.append(
                    link.run(f"sleep 0.5; echo {n}", timeout=30).stdout
                )
            )
            for n in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(int(o) for o in outputs) == list(range(20))


def test_files_sync_by_sha256_with_modes(link: Link, tmp_path: Path) -> None:
    remote = f"/tmp/dockyard-test-{uuid.uuid4().hex}"
    bundle = tmp_path / "bundle"
    (bundle / "conf").mkdir(parents=True)
    (bundle / "compose.yml").write_text("services: {}\n")
    (bundle / "conf" / "app.env").write_text("A=1\n")
    (bundle / "run.sh").write_text("#!/bin/sh\n")
    (bundle / "run.sh").chmod(0o755)

    def mode_for(rel: str) -> int:
        return 0o600 if rel.endswith(".env") else 0o755 if rel.endswith(".sh") else 0o644

    try:
        changed = link.upload_tree(bundle, remote, mode_for=mode_for)
        assert sorted(changed) == [
            f"{remote}/compose.yml",
            f"{remote}/conf/app.env",
            f"{remote}/run.sh",
        ]
        assert link.upload_tree(bundle, remote, mode_for=mode_for) == []
        (bundle / "conf" / "app.env").write_text("A=2\n")
        assert link.upload_tree(bundle, remote, mode_for=mode_for) == [f"{remote}/conf/app.env"]
        modes = link.run(
            f"cd {remote} && stat -c '%a %n' compose.yml conf/app.env run.sh", timeout=10
        )
        assert modes.stdout.split("\n")[:3] == ["644 compose.yml", "600 conf/app.env", "755 run.sh"]
        assert link.read_file(f"{remote}/conf/app.env") == b"A=2\n"

        link.write_file(f"{remote}/.env", b"SECRET=x\n", 0o600)
        link.upload_file(bundle / "compose.yml", f"{remote}/copy.yml")
        assert link.read_file(f"{remote}/.env") == b"SECRET=x\n"
        listing = link.run(f"stat -c '%a %n' {remote}/.env; ls -a {remote}", timeout=10).stdout
        assert listing.startswith(f"600 {remote}/.env")
        assert ".dockyard-stage" not in listing
        assert link.read_file(f"{remote}/missing") is None
        with pytest.raises(RemoteFileError):
            link.read_file(f"{remote}/compose.yml", max_bytes=4)
    finally:
        link.run(["rm", "-rf", remote], timeout=10)


def test_direct_tcpip_reaches_a_port_on_the_target(lab: Lab, link: Link) -> None:
    with link.open_direct_tcpip("127.0.0.1", lab.layout.ports.registry_direct, timeout=5) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.0\r\nHost: registry\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 200")
    with pytest.raises(ConnectionRefusedError):
        link.open_direct_tcpip("127.0.0.1", 1, timeout=5)
    assert link.run("echo still fine", timeout=10).stdout == "still fine\n"


@pytest.mark.timeout(90)
def test_a_transfer_on_a_slow_link_stops_at_its_timeout_and_leaves_nothing_behind(
    proxy: ProxyControl, link: Link, direct: Link
) -> None:
    remote = f"/tmp/dockyard-test-{uuid.uuid4().hex}"
    direct.run(["mkdir", "-p", remote], timeout=10)
    direct.write_file(f"{remote}/small.bin", os.urandom(600 * 1024))
    link.connect()
    try:
        proxy.set_faults("ssh", throttle=SLOW_LINK)
        wrote = _on_slow_link(
            proxy, lambda: link.write_file(f"{remote}/big.bin", os.urandom(MB), 0o600, timeout=1)
        )
        read = _on_slow_link(proxy, lambda: link.read_file(f"{remote}/small.bin", timeout=1))
        proxy.clear_faults("ssh")
        print(f"\nslow link: {wrote}\n  {read}")
        assert isinstance(wrote, TransferTimeout) and "past its 1 s timeout" in str(wrote)
        assert isinstance(read, TransferTimeout)
        assert direct.run(["ls", "-A", remote], timeout=10).stdout == "small.bin\n"
        assert link.run("echo still fine", timeout=10).stdout == "still fine\n"
        assert link.rebuilds == 0
    finally:
        proxy.clear_faults("ssh")
        direct.run(["rm", "-rf", remote], timeout=10)


def _on_slow_link(proxy: ProxyControl, call: Callable[[], object]) -> TransferTimeout | None:
    """What `call` raised on the throttled route, once sure nobody cleared the throttle."""
    try:
        call()
        raised = None
    except TransferTimeout as exc:
        raised = exc
    held = proxy.routes()["ssh"]["faults"]["throttle"]
    assert held == SLOW_LINK, "another session cleared the throttle mid-test; rerun"
    return raised
