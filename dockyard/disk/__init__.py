"""The disk gate and the prune of what dockyard owns on a host (and nothing else).

gate       df of the engine's data root against the thresholds under `disk:`
inventory  the images and containers on the engine, as inspect shows them
ownership  which of them are dockyard's: its stacks' containers, its releases' images
prune      the gate's stepwise prune and the cleanup after a deploy, with what they removed
holders    when the gate still fails, who holds the space
"""
