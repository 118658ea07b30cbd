"""dockyard: deploy Docker Compose stacks to VMs over SSH as a Prefect flow."""
