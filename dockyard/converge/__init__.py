"""Convergence: the verdict (pure), the per-stack check, and the pre-flow check of a fleet."""
