"""The host-facts script on the lab VM through the SSH link, parsed: one round trip, all facts."""

from __future__ import annotations

import json
import uuid

from dockyard.commands.facts import host_facts
from dockyard.commands.hoststate.paths import HostState
from dockyard.host.facts import parse
from dockyard.lab.lab import Lab
from dockyard.ssh.link import Link
from tests.integration.test_ssh_link import link_settings


def test_one_run_of_the_facts_script_gives_engine_disk_images_and_stack_state(lab: Lab) -> None:
    remote = f"/tmp/dockyard-facts-{uuid.uuid4().hex[:8]}"
    state = HostState(remote)
    record = {"id": "r-facts", "result": "succeeded", "images": {}}
    with Link(link_settings(lab, port=lab.layout.ports.sshd)) as link:
        try:
            link.run(f"mkdir -p {state.root} && printf 'ci-owner\\n' > {state.lock} && "
                     f"printf '{{\"id\": \"r-old\"}}\\n%s\\n' '{json.dumps(record)}' "
                     f"> {state.releases_log}", timeout=30)  # fmt: skip
            output = link.run(host_facts(f"nothing-{remote[-8:]}", state), timeout=60).stdout
        finally:
            link.run(f"rm -rf {remote}", timeout=30)
    facts = parse(output, "vm1")
    assert facts.docker_version and facts.compose_version and facts.root_dir
    assert facts.disk and 0 < facts.disk.available <= facts.disk.size
    assert facts.images and all(i.id.startswith("sha256:") for i in facts.images)
    assert any(d.startswith("127.0.0.1:") for i in facts.images for d in i.repo_digests)
    assert facts.containers == ()
    assert (facts.lock, facts.attempt, facts.release_head) == ("ci-owner\n", None, record)
