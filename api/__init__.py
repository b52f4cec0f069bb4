"""carbonfin's HTTP service (FastAPI): routers per domain, auth and tenancy, schemas.

The service is built in the HTTP-service issue; the package exists so that the distribution
installs it from the start, as ARCHITECTURE.md lays out.
"""
