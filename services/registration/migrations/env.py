"""Alembic environment of the registration service."""

from services.registration.models import metadata
from shared.migrations import run_env

run_env(metadata)
