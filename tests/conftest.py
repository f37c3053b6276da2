"""Fixtures shared by every suite: the real PostgreSQL and Kafka started by deploy/local/*.sh."""

from __future__ import annotations

import pytest

from devkit import stack


@pytest.fixture(scope="session")
def postgres_env() -> dict[str, str]:
    return stack.start_postgres()


@pytest.fixture(scope="session")
def kafka_env() -> dict[str, str]:
    return stack.start_kafka()
