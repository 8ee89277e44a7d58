"""One Settings object for the whole service (env prefix SURFTURF_, .env supported)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core import limits

DEV_SECRET = "dev-insecure-secret-change-me"


class Settings(BaseSettings):
    """Resolved configuration; audits store a copy of the parts they ran with."""

    model_config = SettingsConfigDict(env_prefix="SURFTURF_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default=Path("surfturf-data"), description="Holds SQLite, indexes, caches.")
    database_url: str | None = Field(default=None, description="Defaults to SQLite in data_dir.")
    secret_key: str = Field(default=DEV_SECRET, description="Encrypts stored target secrets.")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    embedded_worker: bool = True
    worker_concurrency: int = Field(default=2, ge=1)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_alive_file: Path | None = Field(
        default=None, description="A worker touches this file on every pass of its claim loop; "
        "`surfturf worker --check` (a container healthcheck) reads its age.")
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)
    audit_chunk_size: int = Field(
        default=500, ge=0, description="Samples per chunk job: a fixed-design audit of more "
        "samples is split into chunk jobs that any worker may take, so one audit spreads over "
        "every worker (0: one job per audit). Fixed when the audit is created.")
    audit_poll_seconds: float = Field(default=1.0, gt=0, description="How often a chunked "
                                      "audit's own job checks its chunks between runs.")
    backoff_base_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)

    target_egress: str | None = Field(
        default=None,
        description="Address classes or CIDRs a target URL may resolve to. Default: `public` on a "
        "shared database (Postgres); `public,loopback` on the embedded SQLite default, so a "
        "laptop audit reaches a model served on localhost.",
    )
    target_key_envs: str = Field(
        default="", description="Comma list of server env var names a target's api_key_env may "
        "name (empty: none). Anything else could send a server secret to a caller's URL.")
    webhook_egress: str = Field(
        default="public", description="Address classes or CIDRs a webhook URL may resolve to."
    )
    webhook_retry_schedule: str = Field(
        default="5,30,120,600,1800,3600,7200,14400,28800,43200",
        pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
        description="Seconds before each retry of a failed webhook delivery (±20% jitter): the "
        "default tries 11 times over about 27 hours.")
    webhook_disable_after: int = Field(default=5, ge=1, description="Deliveries in a row that "
                                       "failed for good (retry schedule spent, no 2xx between) "
                                       "that disable a subscription; an outage shorter than the "
                                       "schedule never does.")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Per delivery attempt.")
    auditor_url: str | None = Field(
        default=None, description="OpenAI-compatible auditor model (rewrites, judge), e.g. vLLM."
    )
    auditor_model: str | None = None
    auditor_engine: Literal["http", "vllm", "transformers"] = Field(
        default="http",
        description="http: the auditor_url endpoint; vllm/transformers: an in-process engine "
        "running the local model auditor_model (e.g. smollm2) inside the worker.",
    )
    auditor_api_key: str | None = Field(default=None, description="Never echoed.")
    query_url: str | None = Field(default=None, description="A search's query model (SURF's "
                                  "--query-model), OpenAI-compatible; default: auditor_url.")
    query_model: str | None = Field(default=None, description="The query model's name; unset: the "
                                    "auditor writes queries. Uses auditor_api_key.")
    analysis_process: bool = Field(default=True, description="Run statistics in a child process "
                                   "started with sampling (imports overlap the target's answers).")
    organism_sweeps: bool = Field(default=False, description="Let API keys start organism sweeps "
                                  "(POST /v1/organism-sweeps): each point fine-tunes SmolLM2 on this "
                                  "server's workers (minutes of CPU per organism; needs the lm extra).")
    turf_exact_limit: int = Field(default=100_000, ge=1, description="A dataset with fewer rows "
                                  "gets exact FAISS search; a larger one HNSW (approximate, faster).")
    target_timeout_seconds: float = Field(default=120.0, gt=0)
    target_max_concurrency: int = Field(default=256, ge=1, description="Operator cap on "
                                        "design.concurrency (requests in flight per audit).")
    target_proxy: bool = Field(default=False, description="Send target and auditor calls through the "
                               "proxy HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name (NO_PROXY hosts go direct); "
                               "the egress policy then applies to the proxy's address.")

    # Size and shape limits: what one request, upload or worker is allowed to hold.
    # Defaults from app/core/limits.py, the one place each number lives.
    max_request_bytes: int = Field(default=limits.MAX_REQUEST_BYTES, ge=1024,
                                   description="JSON request body cap.")
    max_upload_bytes: int = Field(default=limits.MAX_UPLOAD_BYTES, ge=1024, description="Dataset upload cap.")
    max_line_bytes: int = Field(default=limits.MAX_LINE_BYTES, ge=256, description="One JSONL line, uploads.")
    max_prompts: int = Field(default=limits.MAX_PROMPTS, ge=1, description="Base prompts in one spec.")
    max_work_items: int = Field(default=limits.MAX_WORK_ITEMS, ge=1, le=limits.MAX_WORK_ITEMS,
                                description="Samples one audit may plan (the spec's own cap is the "
                                "most it can be).")
    max_prompt_chars: int = Field(default=limits.MAX_PROMPT_CHARS, ge=100, description="Characters of "
                                  "one rendered prompt (system + user), after every template.")

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule.split(",") if x.strip()]

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and (self.secret_key == DEV_SECRET or len(self.secret_key) < 16):
            raise ValueError("SURFTURF_SECRET_KEY must be set in production, 16 characters or more "
                             "(e.g. `openssl rand -hex 32`)")
        return self

    @property
    def resolved_target_egress(self) -> str:
        if self.target_egress is not None:
            return self.target_egress
        return "public,loopback" if self.resolved_database_url.startswith("sqlite") else "public"

    @property
    def allowed_key_envs(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.target_key_envs.split(",") if t.strip())

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'surfturf.db').resolve()}"

    def public_dict(self) -> dict[str, object]:
        """Settings safe to store or show: secrets and credentials removed."""
        data = self.model_dump(mode="json", exclude={"secret_key", "auditor_api_key"})
        data["database_url"] = _redact_url(self.resolved_database_url)
        return data


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
