"""Job kinds: the one list of what a worker can be asked to do. The jobs table stores the value;
enqueue, the task table (app/jobs/registry.py) and the failure path (app/webhooks/events.py)
all use it."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    audit_run = "audit.run"
    audit_chunk = "audit.chunk"  # one slice of a big audit, sampled by any worker
    dataset_ingest = "dataset.ingest"
    dataset_attributes = "dataset.attributes"
    trace_run = "trace.run"
    search_run = "search.run"
    webhook_deliver = "webhook.deliver"
    organism_sweep = "organism.sweep"

    @property
    def domain(self) -> str:
        """The part before the dot: app/jobs/registry.py maps it to the module holding its task."""
        return self.value.split(".", 1)[0]
