"""Alembic environment of the projects service."""

from services.projects.models import metadata
from shared.db.migrations import run_env

run_env(metadata)
