"""Compose files as dockyard reads them (includes, extends) and the .env it writes."""
