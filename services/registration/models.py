"""Tables of the registration database."""

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)

from shared.db.columns import UtcDateTime, new_metadata
from shared.db.tables import AUTO_ID, add_platform_tables

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
    # The co-hosting bodies, in the order the organisers list them (a JSON array of names).
    Column("co_hosts", JSON, nullable=False, server_default=text("'[]'")),
)

# Seats for an organisation or a country delegation. Never more registrations than seats, enforced by the
# database itself: a seat is taken by one conditional UPDATE (used < seats, not expired), and the CHECK keeps
# even a use case that forgot the condition from overselling.
invitations = Table(
    "invitations", metadata,
    Column("id", String(36), primary_key=True),
    Column("edition_id", String(36), ForeignKey("editions.id"), nullable=False),
    Column("code", String(32), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("used", Integer, nullable=False, server_default=text("0")),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("country", String(2), nullable=True),
    Column("organization", String(200), nullable=True),
    Column("category", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("seats >= 1", name="invitation_seats_positive"),
    CheckConstraint("used >= 0 AND used <= seats", name="invitation_not_oversold"),
    Index("ix_invitations_edition_id", "edition_id"),
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
    # The delegate's consent to appear in the anonymous list; rows from before it was asked stay private.
    Column("listed_publicly", Boolean, nullable=False, server_default=false()),
    # Self-registration: the invitation whose seat it took, and the registrar's approval or rejection.
    Column("invitation_id", String(36), ForeignKey("invitations.id"), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("rejection_reason", String(500), nullable=True),
    # Erasure: when the personal data was replaced by a tombstone.
    Column("erased_at", UtcDateTime(), nullable=True),
    UniqueConstraint("edition_id", "email_normalized", name="uq_delegates_edition_email"),
    Index("ix_delegates_edition_status_country", "edition_id", "status", "country"),
)

# Offline scans as uploaded (``POST /check-ins/batch``): a nonce seen again answers what it got the first
# time and changes nothing.
scans = Table(
    "scans", metadata,
    Column("nonce", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("badge_code", String(64), nullable=False),
    Column("scanned_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("result", String(30), nullable=False),
    Column("delegate_id", String(36), nullable=True),
    Column("checked_in_at", UtcDateTime(), nullable=True),
)

sessions = Table(
    "sessions", metadata,
    Column("id", String(36), primary_key=True),
    Column("edition_id", String(36), ForeignKey("editions.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("capacity >= 1", name="capacity_positive"),
    CheckConstraint("kind IN ('forum', 'field_visit')", name="kind"),
    # The target of enrollments' (session_id, session_capacity) key: see below.
    UniqueConstraint("id", "capacity", name="uq_sessions_id_capacity"),
    Index("ix_sessions_edition_id", "edition_id"),
)

# Never more enrolled than capacity, enforced by the database itself and not only by the use case:
# an enrolled row holds a seat number, seats are unique per session, and a seat must lie in
# 1..capacity. The row carries the session's capacity through a foreign key to (id, capacity) that
# cascades on update, so the bound cannot drift from the session's. Wait-listed rows hold no seat;
# their id (assigned under the session's row lock) is their place in the queue.
enrollments = Table(
    "enrollments", metadata,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column("session_id", String(36), nullable=False),
    Column("session_capacity", Integer, nullable=False),
    Column("delegate_id", String(36), ForeignKey("delegates.id"), nullable=False),
    Column("state", String(20), nullable=False),
    Column("seat", Integer, nullable=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("enrolled_at", UtcDateTime(), nullable=True),
    ForeignKeyConstraint(["session_id", "session_capacity"], ["sessions.id", "sessions.capacity"],
                         name="fk_enrollments_session_capacity", onupdate="CASCADE"),
    UniqueConstraint("session_id", "delegate_id", name="uq_enrollments_session_delegate"),
    UniqueConstraint("session_id", "seat", name="uq_enrollments_session_seat"),
    CheckConstraint("(state = 'enrolled' AND seat IS NOT NULL AND seat BETWEEN 1 AND session_capacity) OR "
                    "(state = 'waitlisted' AND seat IS NULL)", name="seat_within_capacity"),
    Index("ix_enrollments_session_state_id", "session_id", "state", "id"),
    Index("ix_enrollments_delegate_id", "delegate_id"),
)
