"""Host state: the paths under a stack's `.dockyard/` (paths) and the scripts that read or write
them, by family: release (switch, history), lease, journal (attempts), jobs."""
