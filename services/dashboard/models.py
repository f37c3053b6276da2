"""Tables of the dashboard's read model: the last state seen per entity, and the counters."""

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, text

from shared.db.columns import UtcDateTime, new_metadata
from shared.db.tables import add_platform_tables

metadata = new_metadata()
platform = add_platform_tables(metadata)

editions = Table(
    "editions", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("year", Integer, nullable=False),
    Column("host", String(20), nullable=False),
    Column("city", String(100), nullable=True),
    Column("theme", String(300), nullable=True),
    Column("starts_on", String(10), nullable=False),
    Column("ends_on", String(10), nullable=True),  # null on rows written before it was kept
)

seen_delegates = Table(
    "seen_delegates", metadata,
    Column("delegate_id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("country", String(2), nullable=False),
    Column("status", String(20), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=True),
    Column("checked_in_at", UtcDateTime(), nullable=True),
)

seen_projects = Table(
    "seen_projects", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("sector", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("countries", Text, nullable=False),  # comma-separated ISO codes
)

seen_organizations = Table(
    "seen_organizations", metadata,
    Column("organization_id", String(36), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("status", String(20), nullable=False),
)

delegate_counts = Table(
    "delegate_counts", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("registered", BigInteger, nullable=False),
    Column("checked_in", BigInteger, nullable=False),
    # Self-registrations waiting for approval (issue 14).
    Column("pending", BigInteger, nullable=False, server_default=text("0")),
)

project_sector_counts = Table(
    "project_sector_counts", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("sector", String(30), primary_key=True),
    Column("signed", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
)

project_country_counts = Table(
    "project_country_counts", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("projects", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
)

network_counts = Table(
    "network_counts", metadata,
    Column("country", String(2), primary_key=True),
    Column("organizations", BigInteger, nullable=False),
)

# Registrations that stand and check-ins per bucket of conference time (services/dashboard/domain.py, Span).
timeline_counts = Table(
    "timeline_counts", metadata,
    Column("edition_id", String(36), primary_key=True),
    Column("span", String(10), primary_key=True),
    Column("bucket_start", UtcDateTime(), primary_key=True),
    Column("registered", BigInteger, nullable=False, server_default=text("0")),
    Column("checked_in", BigInteger, nullable=False, server_default=text("0")),
)

# The Top-10 cases currently featured, from `case_featured` / `case_unfeatured`.
featured_cases = Table(
    "featured_cases", metadata,
    Column("case_id", String(36), primary_key=True),
    Column("edition_id", String(36), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("sector", String(30), nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("country", String(2), nullable=False),
)

# NOTIFYed at the commit of every change to the read model (trigger of migration 0007): each replica's
# snapshot refresher listens, so every replica's live page moves, not only the one whose consumer applied it.
READ_MODEL_CHANNEL = "dashboard_read_model"

read_model_state = Table(
    "read_model_state", metadata,
    Column("name", String(50), primary_key=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

COUNTER_TABLES = {
    "delegate_counts": (delegate_counts, ("edition_id", "country"), ("registered", "checked_in", "pending")),
    "project_sector_counts": (project_sector_counts, ("edition_id", "sector"), ("signed", "amount_fen")),
    "project_country_counts": (project_country_counts, ("edition_id", "country"), ("projects", "amount_fen")),
    "network_counts": (network_counts, ("country",), ("organizations",)),
    "timeline_counts": (timeline_counts, ("edition_id", "span", "bucket_start"), ("registered", "checked_in")),
}
