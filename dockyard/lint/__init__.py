"""Local checks of compose files and bundles: lint (compose, config), pin, the bundle check."""
