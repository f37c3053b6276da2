"""Alembic environment of the dashboard service."""

from services.dashboard.models import metadata
from shared.db.migrations import run_env

run_env(metadata)
