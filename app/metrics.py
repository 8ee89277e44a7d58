"""Prometheus metrics shared by the API and the workers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

JOBS_BY_STATUS = Gauge("surfturf_jobs", "Jobs in the database by status", ["status"])
JOBS_FINISHED = Counter("surfturf_jobs_finished_total", "Jobs finished by this process",
                        ["kind", "outcome"])
WEBHOOK_DELIVERIES = Counter("surfturf_webhook_deliveries_total",
                             "Webhook delivery attempts by outcome (delivered, retry, failed, gone, "
                             "egress_denied, abandoned)", ["outcome"])
