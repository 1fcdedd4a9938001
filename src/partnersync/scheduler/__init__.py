"""The scheduler: runs due tasks through the runner, on any number of replicas."""
