"""The command layer: pure builders of every argv and script dockyard runs on a host.

Nothing here runs anything or touches the network; each builder returns a `list[str]` (argv)
or one POSIX `sh` script, and is tested as strings (tests/unit/commands/). The rest
of the core runs them through `dockyard.runner.Runner` and never writes shell itself.

    compose    docker compose for one project (config, up, run, stop, restart, ps, logs)
    disk       df of the data root; listing, inspecting and removing images and containers
    docker     the docker CLI: data root, networks, disk usage
    facts      the host-facts script (one round trip) and the stack's containers after up
    hoststate  every path under a stack's `.dockyard/` (paths) and the scripts that read or write
               them, by family: release (switch, history), lease, journal (attempts), jobs
    remote     what the SSH link runs itself: command wrapper, kill, env file, checked uploads
    shell      quoting and the few plain file operations (mkdir, rm) the steps need
"""
