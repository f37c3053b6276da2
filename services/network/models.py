"""Tables of the network database, including what each member signed (kept from project events)."""

from sqlalchemy import Column, Index, String, Table, text

from shared.db.columns import MoneyType, UtcDateTime, new_metadata
from shared.db.tables import add_platform_tables

metadata = new_metadata()
platform = add_platform_tables(metadata)

# A name is unique per country (whatever its case and spacing) among organisations that have not
# left; a partial unique index makes it a rule of the database, so concurrent joins cannot both win.
CURRENT = text("status <> 'left'")

organizations = Table(
    "organizations", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    # Case- and space-folded name: a name is unique per country whatever its case.
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
    Column("updated_at", UtcDateTime(), nullable=True),
    Index("uq_organizations_current_country_name", "country", "name_normalized", unique=True,
          postgresql_where=CURRENT, sqlite_where=CURRENT),
    Index("ix_organizations_status_country", "status", "country"),
)

# What each member is a party to, from the projects topic (one row per member and project).
organization_projects = Table(
    "organization_projects", metadata,
    Column("organization_id", String(36), primary_key=True),
    Column("project_id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("title", String(300), nullable=True),
    Column("sector", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("amount_cny", MoneyType(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_organization_projects_project_id", "project_id"),
)
