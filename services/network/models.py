"""Tables of the network database."""

from sqlalchemy import Column, Index, String, Table, UniqueConstraint

from shared.db import UtcDateTime, new_metadata
from shared.tables import add_platform_tables

metadata = new_metadata()
platform = add_platform_tables(metadata)

organizations = Table(
    "organizations", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    # Lower-cased name: a name is unique per country whatever its case.
    Column("name_normalized", String(200), nullable=False),
    Column("name_zh", String(100), nullable=True),
    Column("country", String(2), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("city", String(100), nullable=True),
    Column("website", String(300), nullable=True),
    Column("contact_email", String(254), nullable=True),
    Column("status", String(20), nullable=False),
    Column("joined_at", UtcDateTime(), nullable=False),
    Column("left_at", UtcDateTime(), nullable=True),
    UniqueConstraint("country", "name_normalized", name="uq_organizations_country_name"),
    Index("ix_organizations_status_country", "status", "country"),
)
