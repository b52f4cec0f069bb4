"""Service settings (pydantic-settings; environment variables prefixed ``CARBONFIN_``).

``CARBONFIN_MODE=local`` (the default, what ``make run`` uses) accepts the built-in development
secret; any other mode refuses to start without ``CARBONFIN_SECRET_KEY`` of at least 32
characters, so a production deployment can never run on a default secret.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carbonfin.store.database import DEFAULT_DATABASE_URL

__all__ = ["DEV_SECRET", "Settings", "get_settings"]

DEV_SECRET = "carbonfin-local-development-secret-do-not-use-in-production"


class Settings(BaseSettings):
    """What the HTTP service needs to start."""

    model_config = SettingsConfigDict(env_prefix="CARBONFIN_", extra="ignore")

    mode: Literal["local", "production"] = "local"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    page_size_max: int = Field(default=200, ge=1, le=1000)
    # Load behaviour (docs/api.md, "Limits, pools and retries"). Each worker runs blocking work
    # (database calls, valuations) on at most `threadpool_size` threads; every such thread holds
    # at most one pooled connection at a time, except a route that reads and then calls a write
    # workflow (two), hence the pool: `threadpool_size` + 4 (the audit writer, /health, slack)
    # kept open, and up to `threadpool_size` more on demand. A connection not free within
    # `db_pool_timeout_s` is answered 503 with Retry-After. PostgreSQL's max_connections (100 by
    # default) must cover workers x (pool size + overflow).
    threadpool_size: int = Field(default=32, ge=4, le=256)
    db_pool_size: int | None = Field(default=None, ge=1, le=512)
    db_max_overflow: int | None = Field(default=None, ge=0, le=512)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Failed authentications (missing, malformed, unknown, revoked, expired or wrong keys) per
    # client address and per client id within `auth_window_s`; beyond them, 429 + Retry-After.
    auth_failures_per_address: int = Field(default=30, ge=1)
    auth_failures_per_client: int = Field(default=10, ge=1)
    auth_window_s: float = Field(default=60.0, gt=0, le=3600)
    # The dashboard (api/dashboard): how long a login lasts (never beyond the key's own expiry)
    # and when its cookies carry the Secure flag: "auto" = when the request came over https
    # (behind a TLS proxy, run uvicorn with --proxy-headers), "always", or "never".
    dashboard_session_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    dashboard_cookie_secure: Literal["auto", "always", "never"] = "auto"

    @property
    def pool_size(self) -> int:
        return self.db_pool_size if self.db_pool_size is not None else self.threadpool_size + 4

    @property
    def max_overflow(self) -> int:
        return self.db_max_overflow if self.db_max_overflow is not None else self.threadpool_size

    @model_validator(mode="after")
    def _no_default_secret_outside_local(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.mode != "local" and (secret == DEV_SECRET or len(secret) < 32):
            raise ValueError(
                "CARBONFIN_SECRET_KEY must be set to a random value of at least 32 characters "
                f"when CARBONFIN_MODE={self.mode!r} (the built-in secret is for local mode only)"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
