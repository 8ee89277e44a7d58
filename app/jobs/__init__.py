"""The job machinery every domain's tasks run on: the registry, a task's context, the runner
(claim, lease, heartbeat, retry, cancel, halt)."""
