"""The pull path: from the stack's image references to images on the host's engine.

    ref          parse, normalise and classify image references (distribution grammar)
    plan         the pure pull plan: skip, pull or verify per image, with a reason each
    facts        what the engine has: local images by name, every layer (one round trip)
    credentials  the configured logins; `credentials_for(ref)` is the one lookup
    registry     registry HTTP: manifest digests (HEAD), image manifests with layer sizes
    errors       RegistryError and friends, pull error classification (`transient`)
    pull         one engine pull through docker-py, its events checked, within the deadline
    layers       bytes a pull fetched: new layers' compressed sizes, shared layers once
    progress     pull progress to in-process listeners (the CLI's bars)
    resolve      the stack as compose resolves it on the host, its services and networks
    steps        the deploy's image steps: plan_stack, verify_in_registry, pull_on_host

Command text (the detached pull, the layer snapshot) lives in dockyard/commands/pull.py."""
