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
