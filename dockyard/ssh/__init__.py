"""The SSH link to a target: keepalive, dead-peer detection, rebuild, SFTP, docker."""
