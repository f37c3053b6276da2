"""The write-path baseline: the same FastAPI + SQLAlchemy + asyncpg stack doing one INSERT per request,
with none of the platform (no outbox, no auth, no idempotency, no metrics, no validation beyond types).

    BASELINE_DATABASE_URL=postgresql+asyncpg://… uvicorn bench.baseline_app:app --port 18080
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlalchemy.ext.asyncio import create_async_engine

metadata = MetaData()
delegates = Table(
    "baseline_delegates", metadata,
    Column("id", String(36), primary_key=True), Column("edition_id", String(36)), Column("full_name", String(200)),
    Column("country", String(2)), Column("email", String(254)), Column("category", String(20)),
    Column("registered_at", DateTime(timezone=True)),
)
engine = create_async_engine(os.environ["BASELINE_DATABASE_URL"], pool_size=10, max_overflow=10)


class DelegateIn(BaseModel):
    edition_id: str
    full_name: str
    country: str
    email: str
    category: str


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/delegates", status_code=201)
async def register(body: DelegateIn) -> dict[str, str]:
    row = {"id": str(uuid.uuid4()), **body.model_dump(), "registered_at": datetime.now(UTC)}
    async with engine.begin() as conn:
        await conn.execute(delegates.insert().values(**row))
    return {"id": row["id"], "status": "registered"}
