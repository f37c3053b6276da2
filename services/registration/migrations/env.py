"""Alembic environment of the registration service."""

from services.registration.models import metadata
from shared.db.migrations import run_env

run_env(metadata)
