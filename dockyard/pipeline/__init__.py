"""Deploy pipeline steps: what each step does to one stack on one host (no Prefect here)."""
