"""Alembic environment of the network service."""

from services.network.models import metadata
from shared.db.migrations import run_env

run_env(metadata)
