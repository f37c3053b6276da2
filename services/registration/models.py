"""Tables of the registration database."""

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from shared.db import UtcDateTime, new_metadata
from shared.tables import add_platform_tables

metadata = new_metadata()
platform = add_platform_tables(metadata)

editions = Table(
    "editions", metadata,
    Column("id", String(36), primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("year", Integer, nullable=False),
    Column("host", String(20), nullable=False),
    Column("city", String(100), nullable=True),
    Column("theme", String(300), nullable=True),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

delegates = Table(
    "delegates", metadata,
    Column("id", String(36), primary_key=True),
    Column("edition_id", String(36), ForeignKey("editions.id"), nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("name_zh", String(100), nullable=True),
    Column("country", String(2), nullable=False),
    Column("city", String(100), nullable=True),
    Column("organization", String(200), nullable=True),
    Column("email", String(254), nullable=False),
    # Lower-cased e-mail: the same address in another case is the same delegate.
    Column("email_normalized", String(254), nullable=False),
    Column("phone", String(40), nullable=True),
    Column("category", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("badge_code", String(64), nullable=False, unique=True),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("cancelled_at", UtcDateTime(), nullable=True),
    Column("checked_in_at", UtcDateTime(), nullable=True),
    UniqueConstraint("edition_id", "email_normalized", name="uq_delegates_edition_email"),
    Index("ix_delegates_edition_status_country", "edition_id", "status", "country"),
)
