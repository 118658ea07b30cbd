"""The lab: real engine, registry, sshd and fault proxy on loopback, for integration tests."""
