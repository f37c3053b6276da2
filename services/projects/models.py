"""Tables of the projects database, including the replicas it keeps from other services' events."""

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table, text

from shared.db.columns import MoneyType, RateType, UtcDateTime, new_metadata
from shared.db.tables import add_platform_tables

metadata = new_metadata()
platform = add_platform_tables(metadata)

projects = Table(
    "projects", metadata,
    Column("id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("title", String(300), nullable=False),
    Column("sector", String(30), nullable=False),
    Column("amount", MoneyType(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fx_rate_to_cny", RateType(), nullable=True),
    Column("amount_cny", MoneyType(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("signed_on", Date, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    Column("amended_at", UtcDateTime(), nullable=True),
    Index("ix_projects_edition_status_sector", "edition_id", "status", "sector"),
)

project_parties = Table(
    "project_parties", metadata,
    Column("project_id", String(36), ForeignKey("projects.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("organization_id", String(36), nullable=True),
)

# Index on the parties' countries: the `country` filter of the list and the CSV export.
Index("ix_project_parties_country", project_parties.c.country)

# A featured case holds its rank alone; unfeatured ones keep theirs as history. The partial unique
# index makes that a rule of the database, so two concurrent requests cannot both take a rank.
FEATURED = text("status = 'featured'")

cases = Table(
    "cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("sector", String(30), nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("summary", String(4000), nullable=False),
    Column("project_id", String(36), ForeignKey("projects.id"), nullable=True),
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("unfeatured_at", UtcDateTime(), nullable=True),
    CheckConstraint("rank BETWEEN 1 AND 10", name="rank_1_to_10"),
    Index("uq_cases_featured_edition_rank", "edition_id", "rank", unique=True,
          postgresql_where=FEATURED, sqlite_where=FEATURED),
)

# Replica of registration's editions, built from `edition_opened`.
known_editions = Table(
    "known_editions", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("host", String(20), nullable=False),
)

# Replica of network's members, built from the `organization_*` events.
known_organizations = Table(
    "known_organizations", metadata,
    Column("organization_id", String(36), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("status", String(20), nullable=False),
)
