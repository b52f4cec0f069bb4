"""Routers, one per domain, mounted under ``/v1`` by :mod:`api.main`."""
