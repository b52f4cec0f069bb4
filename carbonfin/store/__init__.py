"""Persistence: SQLAlchemy 2.0 models, Alembic migrations, the session factory and repositories.

Only this package (and the CLI/API edges) imports SQLAlchemy; repositories hand the core plain
values (dataclasses and pandas frames with the sample-file column names).
"""
