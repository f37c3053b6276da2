"""HTTP endpoints of the registration service: parse, call a use case, shape the answer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from services.registration import badges, domain, personal_links, service
from services.registration.domain import SessionKind, SessionWithCounts, rfc3339
from services.registration.personal_links import PersonalLink
from services.registration.repository import SqlRegistrationUnitOfWork
from services.registration.schemas import (
    CheckIn,
    CheckInRequest,
    Delegate,
    DelegateCancelledOut,
    DelegateCreate,
    DelegateErasedOut,
    DelegateUpdate,
    Edition,
    EditionCreate,
    Enrollment,
    EnrollmentCreate,
    Invitation,
    InvitationCreate,
    NextEdition,
    OfflineScanBatch,
    OfflineScanResults,
    Rejection,
    ScanOutcome,
    SelfRegistered,
    SelfRegistration,
    Session,
    SessionCreate,
    Withdrawal,
)
from shared.db.pagination import CursorQuery, LimitQuery, Page
from shared.events.types import CountryCode, DelegateCategory, DelegateStatus
from shared.http.auth import require_role
from shared.http.context import ServiceContext
from shared.http.deps import ContextDep, ReadConnDep, RolesDep, unit_of_work
from shared.http.rate_limits import ClientRateLimit
from shared.stats import DelegateStats

router = APIRouter()
Registrar = Depends(require_role("registrar"))
CheckInDesk = Depends(require_role("checkin"))
PRIVILEGED = frozenset({"admin", "registrar"})
EditionIdQuery = Annotated[str | None, Query(max_length=36)]

# The secretariat's spreadsheet: personal data included (the endpoint is registrar/admin only).
EXPORT_COLUMNS = ("id", "edition_id", "full_name", "name_zh", "country", "city", "organization", "category",
                  "status", "email", "phone", "badge_code", "registered_at", "checked_in_at", "cancelled_at")
# Free text typed by people; a leading = + - @ would make a spreadsheet run it as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FREE_TEXT = frozenset({"full_name", "name_zh", "city", "organization", "email"})


RegistrationUowDep = Annotated[SqlRegistrationUnitOfWork, Depends(unit_of_work(SqlRegistrationUnitOfWork))]


def _edition(edition: domain.Edition) -> Edition:
    return Edition.model_validate(edition, from_attributes=True)


def _delegate(delegate: domain.Delegate, roles: frozenset[str] = PRIVILEGED) -> Delegate:
    """The delegate as ``roles`` may see them: personal data for registrar and admin only; for an anonymous
    caller (no roles) not when they checked in or cancelled either."""
    shown = Delegate.model_validate(delegate, from_attributes=True)
    if roles & PRIVILEGED:
        return shown
    hidden: dict[str, object] = {"email": None, "phone": None, "badge_code": None, "invitation_id": None,
                                 "decided_at": None, "rejection_reason": None}
    if not roles:
        hidden |= {"checked_in_at": None, "cancelled_at": None}
    return shown.model_copy(update=hidden)


def _session(counted: SessionWithCounts) -> Session:
    session = counted.session
    return Session(id=session.id, edition_id=session.edition_id, kind=session.kind, title=session.title,
                   capacity=session.capacity, starts_at=session.starts_at, enrolled=counted.counts.enrolled,
                   waitlisted=counted.counts.waitlisted, available=counted.available)


# -- editions -----------------------------------------------------------------------------------------------


@router.post("/editions", status_code=201, response_model=Edition, tags=["editions"], dependencies=[Registrar],
             summary="Open an edition (the rotation picks the host when omitted)")
async def open_edition(body: EditionCreate, uow: RegistrationUowDep) -> Edition:
    return _edition(await service.open_edition(uow=uow, request=body))


@router.get("/editions", response_model=Page[Edition], tags=["editions"], summary="All editions in order")
async def list_editions(conn: ReadConnDep) -> Page[Edition]:
    return Page[Edition](items=[_edition(r) for r in await service.list_editions(conn)], next_cursor=None)


@router.get("/editions/next", response_model=NextEdition, tags=["editions"],
            summary="Number, host and co-hosts of the next edition")
async def next_edition(conn: ReadConnDep) -> NextEdition:
    return NextEdition.model_validate(await service.next_edition(conn), from_attributes=True)


@router.get("/editions/{edition_id}", response_model=Edition, tags=["editions"])
async def get_edition(edition_id: str, conn: ReadConnDep) -> Edition:
    return _edition(await service.get_edition(conn, edition_id))


# -- delegates ----------------------------------------------------------------------------------------------


@router.post("/delegates", status_code=201, response_model=Delegate, tags=["delegates"],
             summary="Register a delegate", dependencies=[Registrar])
async def register_delegate(body: DelegateCreate, uow: RegistrationUowDep) -> Delegate:
    return _delegate(await service.register_delegate(uow=uow, request=body))


@router.get("/delegates", response_model=Page[Delegate], tags=["delegates"],
            summary="Delegates, filtered; anonymous callers see only those listed publicly, without check-in and "
                    "cancellation times; e-mail, phone and badge code for registrar/admin only")
async def list_delegates(
    conn: ReadConnDep, roles: RolesDep,
    edition_id: EditionIdQuery = None,
    country: CountryCode | None = None,
    status: DelegateStatus | None = None,
    category: DelegateCategory | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Delegate]:
    found, next_cursor = await service.list_delegates(conn, edition_id=edition_id, country=country,
                                                      status=status, category=category, limit=limit, cursor=cursor,
                                                      anonymous=not roles)
    return Page[Delegate](items=[_delegate(d, roles) for d in found], next_cursor=next_cursor)


@router.get("/delegates/export.csv", tags=["delegates"], dependencies=[Registrar],
            summary="All delegates of an edition as CSV (UTF-8 with BOM, for spreadsheets)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}},
                                                 404: {"description": "no edition with that id"}})
async def export_delegates(context: ContextDep, edition_id: Annotated[str, Query(min_length=1, max_length=36)]
                           ) -> Response:
    # Its own connection, given back before the answer is sent (a dependency's would be held until the
    # slowest client has read the whole file).
    async with context.read_engine.connect() as conn:
        export = await service.export_delegates(conn, edition_id=edition_id)
    buffer = io.StringIO()
    # The BOM makes Excel read UTF-8 (Chinese names) instead of the local code page.
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for delegate in export.delegates:
        writer.writerow([_csv_cell(column, getattr(delegate, column)) for column in EXPORT_COLUMNS])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="delegates-edition-{export.edition.number}.csv"'})


def _csv_cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return rfc3339(value)  # the same RFC 3339 UTC form as the JSON answers
    text = str(value)
    if column in _FREE_TEXT and text.startswith(_FORMULA_STARTS):
        return "'" + text  # OWASP CSV injection: shown as text, never evaluated
    return text


@router.get("/delegates/{delegate_id}", response_model=Delegate, tags=["delegates"],
            summary="One delegate; for anonymous callers only one listed publicly (any other is 404)")
async def get_delegate(delegate_id: str, conn: ReadConnDep, roles: RolesDep) -> Delegate:
    return _delegate(await service.get_delegate(conn, delegate_id, anonymous=not roles), roles)


@router.patch("/delegates/{delegate_id}", response_model=Delegate, tags=["delegates"], dependencies=[Registrar],
              summary="Correct a delegate or their consent to the public list; a country or category change "
                      "emits `delegate_updated`")
async def update_delegate(delegate_id: str, body: DelegateUpdate, uow: RegistrationUowDep) -> Delegate:
    return _delegate(await service.update_delegate(uow=uow, delegate_id=delegate_id, request=body))


@router.post("/delegates/{delegate_id}/cancel", response_model=DelegateCancelledOut, tags=["delegates"],
             dependencies=[Registrar], summary="Cancel a registration; frees the delegate's session places")
async def cancel_delegate(delegate_id: str, uow: RegistrationUowDep) -> DelegateCancelledOut:
    cancelled = await service.cancel_delegate(uow=uow, delegate_id=delegate_id)
    return DelegateCancelledOut(id=cancelled.id, status=cancelled.status)


# -- invitations, self-registration and approval (issue 14) ------------------------------------------------


def _invitation(invitation: domain.Invitation) -> Invitation:
    return Invitation.model_validate({**vars(invitation), "remaining": invitation.remaining})


@router.post("/invitations", status_code=201, response_model=Invitation, tags=["invitations"],
             dependencies=[Registrar], summary="Create an invitation code for an organisation or a country "
                                               "delegation (how many seats, until when)")
async def create_invitation(body: InvitationCreate, uow: RegistrationUowDep, response: Response) -> Invitation:
    response.headers["Cache-Control"] = "no-store"  # the code is a credential
    return _invitation(await service.create_invitation(uow=uow, request=body))


@router.get("/invitations", response_model=Page[Invitation], tags=["invitations"], dependencies=[Registrar],
            summary="Invitations with their seats used and remaining")
async def list_invitations(conn: ReadConnDep, edition_id: EditionIdQuery = None, limit: LimitQuery = 50,
                           cursor: CursorQuery = None) -> Page[Invitation]:
    found, next_cursor = await service.list_invitations(conn, edition_id=edition_id, limit=limit, cursor=cursor)
    return Page[Invitation](items=[_invitation(i) for i in found], next_cursor=next_cursor)


@router.get("/invitations/{invitation_id}", response_model=Invitation, tags=["invitations"],
            dependencies=[Registrar])
async def get_invitation(invitation_id: str, conn: ReadConnDep) -> Invitation:
    return _invitation(await service.get_invitation(conn, invitation_id))


@router.post("/registrations", status_code=201, response_model=SelfRegistered, tags=["invitations"],
             dependencies=[Depends(ClientRateLimit("self-registration"))],
             summary="Register yourself with your delegation's invitation code (no token); pending until a "
                     "registrar approves",
             responses={409: {"description": "the code expired, its seats are taken, or the e-mail is registered"},
                        422: {"description": "unknown code, another country than the delegation's, or bad fields"},
                        429: {"description": "too many registrations from this address; see Retry-After"}})
async def register_self(body: SelfRegistration, uow: RegistrationUowDep, context: ContextDep,
                        response: Response) -> SelfRegistered:
    delegate = await service.register_self(uow=uow, request=body)
    response.headers["Cache-Control"] = "no-store"  # personal data and a personal link
    # The delegate sees what they sent, not the badge code (the badge opens with the link once approved).
    shown = _delegate(delegate).model_copy(update={"badge_code": None})
    return SelfRegistered(delegate=shown, personal_link=_personal_link(delegate.id, context))


@router.post("/delegates/{delegate_id}/approve", response_model=Delegate, tags=["delegates"],
             dependencies=[Registrar], summary="Approve a pending self-registration (emits `delegate_approved`)",
             responses={409: {"description": "the registration is not pending"}})
async def approve_delegate(delegate_id: str, uow: RegistrationUowDep) -> Delegate:
    return _delegate(await service.approve_delegate(uow=uow, delegate_id=delegate_id))


@router.post("/delegates/{delegate_id}/reject", response_model=Delegate, tags=["delegates"],
             dependencies=[Registrar], summary="Reject a pending self-registration with a reason (emits "
                                               "`delegate_rejected`; the invitation gets its seat back)",
             responses={409: {"description": "the registration is not pending"}})
async def reject_delegate(delegate_id: str, body: Rejection, uow: RegistrationUowDep) -> Delegate:
    return _delegate(await service.reject_delegate(uow=uow, delegate_id=delegate_id, reason=body.reason))


# -- erasure (issue 15) -------------------------------------------------------------------------------------

Eraser = Depends(personal_links.PersonalAccess("registrar"))


@router.post("/delegates/{delegate_id}/erase", response_model=DelegateErasedOut, tags=["delegates"],
             dependencies=[Eraser],
             summary="Erase the delegate's personal data (PIPL Art. 47, GDPR Art. 17); every count stays",
             description="By a registrar, or by the delegate with their personal link (`?token=` or "
                         "`X-Personal-Token`). Name, e-mail, phone, city, organisation and badge are replaced "
                         "by a tombstone here, in stored answers and in exports; country, category, status and "
                         "check-in stay, so `/stats` and `/totals` do not move. Emits `delegate_erased` (no "
                         "personal data) once; erasing again answers the same.")
async def erase_delegate(delegate_id: str, uow: RegistrationUowDep, response: Response) -> DelegateErasedOut:
    erased = await service.erase_delegate(uow=uow, delegate_id=delegate_id)
    response.headers["Cache-Control"] = "no-store"
    assert erased.erased_at is not None
    return DelegateErasedOut(id=erased.id, status=erased.status, erased_at=erased.erased_at)


# -- check-in -----------------------------------------------------------------------------------------------


@router.post("/check-ins", response_model=CheckIn, tags=["check-in"], dependencies=[CheckInDesk],
             summary="Scan a badge: checks the delegate in once",
             responses={404: {"description": "unknown badge"},
                        409: {"description": "already checked in (names when), cancelled, or another edition"}})
async def check_in(body: CheckInRequest, uow: RegistrationUowDep) -> CheckIn:
    delegate = await service.check_in(uow=uow, request=body)
    assert delegate.checked_in_at is not None  # just checked in
    return CheckIn(delegate_id=delegate.id, status=delegate.status, checked_in_at=delegate.checked_in_at,
                   edition_id=delegate.edition_id, full_name=delegate.full_name, name_zh=delegate.name_zh,
                   country=delegate.country, organization=delegate.organization, category=delegate.category)


@router.post("/check-ins/batch", response_model=OfflineScanResults, tags=["check-in"], dependencies=[CheckInDesk],
             summary="Upload a scanner's offline scans: each delegate checked in once, at the earliest scan",
             description="Each scan carries the device's nonce: a nonce uploaded again changes nothing and "
                         "answers what it got the first time. Scans are applied oldest first across devices.")
async def check_in_offline(body: OfflineScanBatch, uow: RegistrationUowDep) -> OfflineScanResults:
    scans = [domain.Scan(nonce=s.nonce, badge_code=s.badge_code, scanned_at=s.scanned_at.astimezone(UTC),
                         edition_id=s.edition_id) for s in body.scans]
    outcomes = await service.check_in_offline(uow=uow, device_id=body.device_id, scans=scans)
    return OfflineScanResults(results=[ScanOutcome.model_validate(o, from_attributes=True) for o in outcomes])


# -- sessions -----------------------------------------------------------------------------------------------


@router.post("/sessions", status_code=201, response_model=Session, tags=["sessions"], dependencies=[Registrar],
             summary="Create a forum or field visit with a capacity")
async def create_session(body: SessionCreate, uow: RegistrationUowDep) -> Session:
    return _session(await service.create_session(uow=uow, request=body))


@router.get("/sessions", response_model=Page[Session], tags=["sessions"],
            summary="Forums and field visits with their enrolled and wait-listed counts")
async def list_sessions(conn: ReadConnDep, edition_id: EditionIdQuery = None, kind: SessionKind | None = None,
                        limit: LimitQuery = 50, cursor: CursorQuery = None) -> Page[Session]:
    found, next_cursor = await service.list_sessions(conn, edition_id=edition_id, kind=kind, limit=limit,
                                                     cursor=cursor)
    return Page[Session](items=[_session(s) for s in found], next_cursor=next_cursor)


@router.get("/sessions/{session_id}", response_model=Session, tags=["sessions"])
async def get_session(session_id: str, conn: ReadConnDep) -> Session:
    return _session(await service.get_session(conn, session_id))


@router.post("/sessions/{session_id}/enrollments", status_code=201, response_model=Enrollment, tags=["sessions"],
             dependencies=[Registrar], summary="Enrol a delegate, or wait-list them when the session is full",
             responses={200: {"description": "already enrolled or wait-listed: the enrolment as it stands",
                              "model": Enrollment}})
async def enroll(session_id: str, body: EnrollmentCreate, uow: RegistrationUowDep, response: Response
                 ) -> Enrollment:
    standing, created = await service.enroll(uow=uow, session_id=session_id, delegate_id=body.delegate_id)
    if not created:
        response.status_code = 200
    return Enrollment.model_validate(standing, from_attributes=True)


@router.get("/sessions/{session_id}/enrollments", response_model=list[Enrollment], tags=["sessions"],
            dependencies=[Registrar], summary="Who holds a place (by seat), then the wait-list in order")
async def list_enrollments(session_id: str, conn: ReadConnDep) -> list[Enrollment]:
    return [Enrollment.model_validate(standing, from_attributes=True)
            for standing in await service.list_enrollments(conn, session_id=session_id)]


@router.delete("/sessions/{session_id}/enrollments/{delegate_id}", response_model=Withdrawal, tags=["sessions"],
               dependencies=[Registrar], summary="Withdraw; the first wait-listed delegate takes the place")
async def withdraw(session_id: str, delegate_id: str, uow: RegistrationUowDep) -> Withdrawal:
    withdrawal = await service.withdraw(uow=uow, session_id=session_id, delegate_id=delegate_id)
    return Withdrawal.model_validate(withdrawal, from_attributes=True)


# -- figures ------------------------------------------------------------------------------------------------


@router.get("/stats", response_model=DelegateStats, tags=["stats"],
            summary="Delegate figures from this service's own tables")
async def stats(conn: ReadConnDep, edition_id: EditionIdQuery = None) -> DelegateStats:
    return DelegateStats(delegates=await service.delegate_figures(conn, edition_id=edition_id))


# -- personal links (issue 14) -------------------------------------------------------------------------------


@router.get("/delegates/{delegate_id}/personal-link", response_model=PersonalLink, tags=["delegates"],
            dependencies=[Registrar], responses={"200": {"headers": {"Cache-Control": {"schema": {"type": "string"}}}}},
            summary="The delegate's personal link (opens their own badge); staff pass it on to the delegate")
async def get_personal_link(delegate_id: str, conn: ReadConnDep, context: ContextDep,
                            response: Response) -> PersonalLink:
    await service.get_delegate(conn, delegate_id, anonymous=False)
    response.headers["Cache-Control"] = "no-store"
    return _personal_link(delegate_id, context)


def _personal_link(delegate_id: str, context: ServiceContext) -> PersonalLink:
    token = personal_links.issue(delegate_id, personal_links.personal_link_secret(context.settings))
    return PersonalLink(delegate_id=delegate_id, token=token,
                        badge_url=f"/delegates/{delegate_id}/badge.pdf?token={token}")


# -- badge (issue 14) -----------------------------------------------------------------------------------------

BadgeReader = Depends(personal_links.PersonalAccess("registrar", "checkin"))


@router.get("/delegates/{delegate_id}/badge.pdf", tags=["delegates"], dependencies=[BadgeReader],
            response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The badge, one A6 page"},
                       401: {"description": "Neither a staff bearer token nor a personal link (`?token=`)"},
                       403: {"description": "The personal link is another delegate's, or the token lacks the role"},
                       409: {"description": "The registration is cancelled"}},
            summary="The delegate's badge PDF (names, country, organisation, category, QR of the badge code); "
                    "for registrar/check-in staff or the delegate's personal link",
            description="Instead of a bearer token, the delegate's personal link opens their own badge: "
                        "`?token=` (the link as sent) or the `X-Personal-Token` header. "
                        "Answers `Cache-Control: no-store` (personal data).")
async def get_badge(delegate_id: str, conn: ReadConnDep) -> Response:
    delegate = await service.get_delegate(conn, delegate_id, anonymous=False)
    badges.check_badge_allowed(delegate)
    pdf = await run_in_threadpool(badges.render_badge, delegate)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="badge-{delegate.badge_code}.pdf"',
        "Cache-Control": "no-store"})
