"""The standalone worker process (`python -m workers`, the same as `surfturf worker`): it claims
jobs from the shared table and runs their tasks. The machinery is app/jobs (runner, lease,
retry), the tasks are each domain's app/<domain>/tasks.py; nothing in app imports this package."""
