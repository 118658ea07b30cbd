"""The SSH link to a target: `link.Link` is the facade over transport (connection, keepalive
watchdog), channel, execute (commands), transfer (SFTP) and keys; docker_client and pool use it."""
