"""Request and response bodies of the registration API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from services.registration.domain import MAX_EDITION_DAYS, Correction, EnrollmentState, ScanResult, SessionKind
from services.registration.personal_links import PersonalLink
from shared.events.types import CountryCode, DelegateCategory, DelegateStatus, Host
from shared.http.inputs import ConferenceDate, ConferenceDateTime, Identifier, SingleLine

Text = SingleLine
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,30}$")]
Email = Annotated[EmailStr, Field(max_length=254, description="Unique per edition, case-insensitive.")]
Id = Annotated[Identifier, Field(min_length=1, max_length=36)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- editions -----------------------------------------------------------------------------------------------


class EditionCreate(_Request):
    year: int = Field(ge=2000, le=2100, description="Calendar year of the edition.")
    host: Host | None = Field(default=None, description="Omit to let the Sichuan–Chongqing rotation pick it.")
    city: Annotated[Text, Field(max_length=100)] | None = None
    theme: Annotated[Text, Field(max_length=300)] | None = None
    starts_on: ConferenceDate
    ends_on: ConferenceDate = Field(description=f"On or after `starts_on`, at most {MAX_EDITION_DAYS} days later.")
    co_hosts: list[Annotated[Text, Field(max_length=200)]] | None = Field(
        default=None, max_length=20,
        description="Co-hosting bodies. Omit to keep the previous edition's; `[]` for none.")


class Edition(BaseModel):
    id: str
    number: int = Field(description="1 for the first edition, then in order.")
    year: int
    host: Host
    city: str | None
    theme: str | None
    starts_on: date
    ends_on: date
    co_hosts: list[str] = Field(default_factory=list)


class NextEdition(BaseModel):
    number: int
    host: Host
    co_hosts: list[str] = Field(description="What an edition opened without `co_hosts` gets: the last one's.")


# -- delegates ----------------------------------------------------------------------------------------------

_LISTED_PUBLICLY = ("The delegate's consent to appear to anonymous callers of `GET /delegates` and "
                    "`GET /delegates/{id}` (name, country, city, organisation, category, status). Without it "
                    "(the default) only tokens of the platform see the delegate. Never sent in events.")


class DelegateCreate(_Request):
    edition_id: Id
    full_name: Annotated[Text, Field(max_length=200)]
    name_zh: Annotated[Text, Field(max_length=100)] | None = None
    country: CountryCode
    city: Annotated[Text, Field(max_length=100)] | None = None
    organization: Annotated[Text, Field(max_length=200)] | None = None
    email: Email
    phone: Phone | None = None
    category: DelegateCategory
    listed_publicly: StrictBool = Field(default=False, description=_LISTED_PUBLICLY)


# Fields a PATCH may clear with null; the others (full_name, country, category, email) are required.
CLEARABLE = frozenset({"name_zh", "city", "organization", "phone"})


class DelegateUpdate(_Request):
    """Only the fields sent change; `null` clears an optional field."""

    full_name: Annotated[Text, Field(max_length=200)] | None = None
    name_zh: Annotated[Text, Field(max_length=100)] | None = None
    country: CountryCode | None = None
    city: Annotated[Text, Field(max_length=100)] | None = None
    organization: Annotated[Text, Field(max_length=200)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    category: DelegateCategory | None = None
    listed_publicly: StrictBool | None = Field(default=None, description="Give (`true`) or withdraw (`false`) "
                                               "the delegate's consent to the public list.")

    @model_validator(mode="after")
    def _something_and_no_null_required(self) -> DelegateUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change: full_name, name_zh, country, city, "
                             "organization, email, phone, category or listed_publicly")
        for name in sorted(self.model_fields_set - CLEARABLE):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (it is required)")
        return self

    def changes(self) -> Correction:
        # The validator above keeps the required fields from being null, as Correction types them.
        return cast(Correction, {name: getattr(self, name) for name in self.model_fields_set})


class Delegate(BaseModel):
    id: str
    edition_id: str
    full_name: str
    name_zh: str | None
    country: str
    city: str | None
    organization: str | None
    category: DelegateCategory
    status: DelegateStatus
    registered_at: datetime
    checked_in_at: datetime | None = Field(default=None, description="When the badge was scanned; shown to "
                                           "callers with a token only, never to anonymous ones.")
    cancelled_at: datetime | None = Field(default=None, description="When the registration was cancelled; "
                                          "shown to callers with a token only, never to anonymous ones.")
    listed_publicly: bool = Field(default=False, description=_LISTED_PUBLICLY)
    email: str | None = Field(default=None, description="Shown to the registrar and admin roles only.")
    phone: str | None = Field(default=None, description="Shown to the registrar and admin roles only.")
    badge_code: str | None = Field(default=None, description="QR payload; registrar and admin only.")
    invitation_id: str | None = Field(default=None, description="The invitation a self-registration used; "
                                      "registrar and admin only.")
    decided_at: datetime | None = Field(default=None, description="When a registrar approved or rejected the "
                                        "self-registration; registrar and admin only.")
    rejection_reason: str | None = Field(default=None, description="Why it was rejected; registrar and admin "
                                         "only.")


class DelegateErasedOut(BaseModel):
    id: str
    status: DelegateStatus = Field(description="Unchanged: an erased delegate still counts as before.")
    erased_at: datetime = Field(description="When the personal data was replaced by a tombstone.")


class DelegateCancelledOut(BaseModel):
    id: str
    status: DelegateStatus


# -- invitations and self-registration (issue 14) ------------------------------------------------------------


class InvitationCreate(_Request):
    edition_id: Id
    label: Annotated[Text, Field(min_length=1, max_length=200)] = Field(
        description="Who the invitation is for, as staff know them (e.g. \"Malaysian delegation\").")
    seats: int = Field(ge=1, le=1000, description="How many delegates may register with the code.")
    expires_at: ConferenceDateTime = Field(description="The code works until then (RFC 3339, in the future).")
    country: CountryCode | None = Field(default=None, description="A country delegation: only delegates of "
                                        "this country may use the code.")
    organization: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="An organisation's invitation: its delegates' organisation unless they give one.")
    category: DelegateCategory = Field(default=DelegateCategory.representative,
                                       description="The category its delegates register in.")


class Invitation(BaseModel):
    id: str
    edition_id: str
    code: str = Field(description="What the delegation types or scans to register (keep it like a password).")
    label: str
    seats: int
    used: int = Field(description="Seats taken by self-registrations (a rejected one gives its seat back).")
    remaining: int = Field(description="`seats - used`.")
    expires_at: datetime
    country: str | None
    organization: str | None
    category: DelegateCategory
    created_at: datetime


class SelfRegistration(_Request):
    """A delegate registering themselves: no staff token, an invitation code instead."""

    invitation_code: Annotated[Text, Field(min_length=1, max_length=32)] = Field(
        description="The code the delegation received.")
    full_name: Annotated[Text, Field(max_length=200)]
    name_zh: Annotated[Text, Field(max_length=100)] | None = Field(default=None, description="Name in Chinese "
                                                                   "characters, printed on the badge.")
    country: CountryCode
    city: Annotated[Text, Field(max_length=100)] | None = None
    organization: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="Omit to take the invitation's organisation.")
    email: Email
    phone: Phone | None = None
    listed_publicly: StrictBool = Field(default=False, description=_LISTED_PUBLICLY)


class SelfRegistered(BaseModel):
    """The pending registration, and the delegate's own link to their badge (it opens once approved)."""

    delegate: Delegate
    personal_link: PersonalLink


class Rejection(_Request):
    reason: Annotated[Text, Field(min_length=1, max_length=500)] = Field(
        description="Why the registration is turned down (kept by this service, never sent in events).")


# -- check-in -----------------------------------------------------------------------------------------------


class CheckInRequest(_Request):
    badge_code: Annotated[Text, Field(max_length=64)]
    edition_id: Id | None = Field(default=None, description="Refuse badges of any other edition (409).")


class CheckIn(BaseModel):
    """What the door needs to let the delegate in: who it is, never their e-mail or phone."""

    delegate_id: str
    status: DelegateStatus
    checked_in_at: datetime
    edition_id: str
    full_name: str
    name_zh: str | None
    country: str
    organization: str | None
    category: DelegateCategory


MAX_SCANS_PER_UPLOAD = 500
# A device's clock may run a little fast; a scan further in the future than this is refused (422).
SCAN_CLOCK_SKEW_SECONDS = 300
Nonce = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class OfflineScan(_Request):
    nonce: Nonce = Field(description="The device's own unique id for this scan (8–64 of A–Z a–z 0–9 _ -), e.g. "
                                     "a UUID: uploading it again changes nothing and answers the same.")
    badge_code: Annotated[Text, Field(max_length=64)] = Field(description="What the QR code carries.")
    scanned_at: ConferenceDateTime = Field(description="When the device scanned it (RFC 3339); the earliest "
                                                       "scan of a badge is its check-in time.")
    edition_id: Id | None = Field(default=None, description="Refuse badges of any other edition "
                                                            "(result `wrong_edition`).")


class OfflineScanBatch(_Request):
    device_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = Field(
        description="The scanner that recorded the scans.")
    scans: list[OfflineScan] = Field(min_length=1, max_length=MAX_SCANS_PER_UPLOAD)

    @model_validator(mode="after")
    def _nonces_unique_and_not_in_the_future(self) -> OfflineScanBatch:
        nonces = [s.nonce for s in self.scans]
        if len(set(nonces)) != len(nonces):
            raise ValueError("each scan of an upload needs its own nonce")
        latest = datetime.now(UTC) + timedelta(seconds=SCAN_CLOCK_SKEW_SECONDS)
        for scan in self.scans:
            if scan.scanned_at > latest:
                raise ValueError(f"scan {scan.nonce} is dated {scan.scanned_at.isoformat()}, in the future: check "
                                 "the device's clock")
        return self


class ScanOutcome(BaseModel):
    nonce: str
    result: ScanResult = Field(description="`ok` (this scan checked the delegate in), `already_checked_in`, "
                                           "`unknown`, `cancelled`, `not_approved` or `wrong_edition`.")
    delegate_id: str | None = Field(description="The badge's delegate; null for `unknown`.")
    checked_in_at: datetime | None = Field(description="The delegate's check-in time (the earliest scan).")


class OfflineScanResults(BaseModel):
    results: list[ScanOutcome] = Field(description="One per scan, in the order uploaded.")


# -- sessions -----------------------------------------------------------------------------------------------


class SessionCreate(_Request):
    edition_id: Id
    kind: SessionKind
    title: Annotated[Text, Field(max_length=200)]
    capacity: int = Field(strict=True, ge=1, le=100_000, description="Places; more requests are wait-listed.")
    starts_at: ConferenceDateTime = Field(description="RFC 3339 with a time zone, during the edition.")


class Session(BaseModel):
    id: str
    edition_id: str
    kind: SessionKind
    title: str
    capacity: int
    starts_at: datetime
    enrolled: int = Field(description="Delegates holding a place (never more than capacity).")
    waitlisted: int = Field(description="Delegates waiting for a place, first come first served.")
    available: int = Field(description="Free places.")


class EnrollmentCreate(_Request):
    delegate_id: Id


class Enrollment(BaseModel):
    session_id: str
    delegate_id: str
    state: EnrollmentState
    position: int | None = Field(default=None, description="Place in the wait-list (1 = next), when waitlisted.")
    requested_at: datetime | None = None
    enrolled_at: datetime | None = None
    enrolled: int = Field(description="The session's enrolled count after this change.")
    waitlisted: int = Field(description="The session's wait-list length after this change.")
    capacity: int


class Withdrawal(BaseModel):
    session_id: str
    delegate_id: str
    state: EnrollmentState = Field(description="Always `withdrawn`.")
    previous_state: EnrollmentState
    promoted_delegate_id: str | None = Field(description="The first wait-listed delegate, now enrolled.")
    enrolled: int
    waitlisted: int
    capacity: int
