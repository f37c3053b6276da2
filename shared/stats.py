"""The figures the organisers announce, in the one shape shared by each service's ``/stats`` and
the dashboard's ``/totals`` (DESIGN.md §5), so the two compare field for field."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from shared.events.types import DelegateStatus, Money, Sector

# Who counts as registered, in /stats and on the dashboard alike: approved and not cancelled (pending
# self-registrations are their own figure; rejected and cancelled ones count nowhere).
REGISTERED_STATUSES = frozenset({DelegateStatus.registered, DelegateStatus.checked_in})


class DelegateFigures(BaseModel):
    registered: int = Field(description="Approved delegates not cancelled (checked-in ones included).")
    checked_in: int = Field(description="Delegates whose badge was scanned.")
    countries: int = Field(description="Distinct countries among the registered delegates.")
    pending: int = Field(default=0, description="Self-registrations waiting for a registrar's approval (not "
                         "counted in `registered`).")


class SectorFigures(BaseModel):
    count: int
    amount_cny: Money


class ProjectFigures(BaseModel):
    signed: int = Field(description="Signed projects (withdrawn ones do not count).")
    amount_cny: Money = Field(description="Their total value in yuan, exact to the fen.")
    by_sector: dict[Sector, SectorFigures] = Field(description="Every sector, zeros included.")


class NetworkFigures(BaseModel):
    organizations: int = Field(description="Active member organisations.")
    countries: int = Field(description="Distinct countries among active members.")


class DelegateStats(BaseModel):
    delegates: DelegateFigures


class ProjectStats(BaseModel):
    projects: ProjectFigures


class NetworkStats(BaseModel):
    network: NetworkFigures


def project_figures(by_sector: dict[Sector, tuple[int, Decimal]]) -> ProjectFigures:
    """Fill every sector (zeros included) and total them."""
    sectors = {s: SectorFigures(count=by_sector.get(s, (0, Decimal(0)))[0],
                                amount_cny=by_sector.get(s, (0, Decimal(0)))[1]) for s in Sector}
    return ProjectFigures(
        signed=sum(f.count for f in sectors.values()),
        amount_cny=sum((f.amount_cny for f in sectors.values()), Decimal("0.00")),
        by_sector=sectors,
    )
