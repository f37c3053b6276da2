"""How the dashboard sums its counter rows into the figures it announces (pure logic), and how the
entity projections remember what they have seen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, TypeVar

from pydantic import BaseModel

from services.dashboard.consumers import (
    DelegateProjection,
    EntityProjection,
    OrganizationProjection,
    ProjectProjection,
)
from services.dashboard.figures import (
    Counters,
    DelegateCount,
    NetworkCount,
    ProjectCountryCount,
    SectorCount,
    Snapshot,
    countries,
    country_figures,
    overview,
    totals,
    totals_by_edition,
)
from services.dashboard.schemas import EditionRow
from services.dashboard.stream import OverviewBroadcaster
from shared.events.network import OrganizationJoined
from shared.events.projects import ProjectSigned
from shared.events.registration import DelegateRegistered
from shared.events.types import (
    DelegateCategory,
    DelegateStatus,
    OrganizationKind,
    OrganizationStatus,
    ProjectStatus,
    Sector,
)

COUNTERS = Counters(
    delegates=(DelegateCount("e1", "MY", 3, 1), DelegateCount("e1", "SG", 0, 0), DelegateCount("e2", "MY", 2, 2),
               DelegateCount("e2", "TH", 1, 0)),
    sectors=(SectorCount("e1", "energy", 2, 150), SectorCount("e2", "energy", 1, 5),
             SectorCount("e2", "finance", 1, 10)),
    project_countries=(ProjectCountryCount("e1", "MY", 2, 150), ProjectCountryCount("e2", "CN", 2, 15)),
    network=(NetworkCount("MY", 2), NetworkCount("SG", 0)),
)


def edition(edition_id: str, number: int, starts_on: str) -> EditionRow:
    return EditionRow(edition_id=edition_id, number=number, year=2024 + number, host="cq", city=None, theme=None,
                      starts_on=starts_on)


def test_all_time_totals_sum_every_edition_and_count_countries_with_a_registered_delegate() -> None:
    figures = totals(COUNTERS)
    assert figures.delegates.model_dump() == {"registered": 6, "checked_in": 3, "countries": 2, "pending": 0}
    assert figures.projects.signed == 4 and figures.projects.amount_cny == Decimal("1.65")
    assert figures.projects.by_sector[Sector.energy].count == 3
    assert figures.projects.by_sector[Sector.agriculture].model_dump() == {"count": 0, "amount_cny": Decimal("0")}
    assert figures.network.model_dump() == {"organizations": 2, "countries": 1}


def test_an_editions_totals_keep_the_whole_network() -> None:
    figures = totals(COUNTERS.of_edition("e2"))
    assert figures.delegates.model_dump() == {"registered": 3, "checked_in": 2, "countries": 2, "pending": 0}
    assert figures.projects.signed == 2 and figures.projects.amount_cny == Decimal("0.15")
    assert figures.network.organizations == 2
    assert COUNTERS.of_edition(None) == COUNTERS.of_edition("") == COUNTERS


def test_countries_list_those_with_a_figure_by_code() -> None:
    rows = countries(COUNTERS)
    assert [r.country for r in rows] == ["CN", "MY", "TH"]  # SG: nothing left
    my = rows[1]
    assert (my.delegates, my.checked_in, my.organizations, my.projects, my.amount_cny) == (5, 3, 2, 2, Decimal("1.50"))
    assert set(country_figures(COUNTERS)) == {"CN", "MY", "SG", "TH"}  # the gauges show zeros too


def test_edition_totals_cover_known_editions_without_figures_and_editions_not_yet_opened() -> None:
    by_edition = totals_by_edition([edition("e1", 1, "2025-07-30"), edition("e3", 3, "2027-07-30")], COUNTERS)
    assert [(e.label, e.year) for e in by_edition] == [("1", "2025"), ("3", "2027"), ("e2", "")]
    assert [e.totals.delegates.registered for e in by_edition] == [3, 0, 3]


def test_the_overview_shows_the_current_editions_figures_and_announces_the_next() -> None:
    editions = [edition("e1", 1, "2025-07-30"), edition("e2", 2, "2026-07-30")]
    document = overview(editions, COUNTERS, [], today=date(2025, 8, 1))
    assert document.edition == editions[0] and document.next_edition == editions[1]
    assert document.totals == totals(COUNTERS.of_edition("e1"))
    assert [c.country for c in document.countries] == ["MY"]
    before_any = overview([], COUNTERS, [], today=date(2025, 8, 1))
    assert before_any.edition is None and before_any.totals == totals(COUNTERS)


async def test_the_stream_gets_an_update_only_when_the_overview_changes() -> None:
    broadcaster = OverviewBroadcaster()

    def snapshot(counters: Counters) -> Snapshot:
        return Snapshot(taken_at=0.0, editions=[], counters=counters,
                        overview=overview([], counters, [], today=date(2025, 8, 1)))

    await broadcaster.publish(snapshot(COUNTERS))
    await broadcaster.publish(snapshot(COUNTERS))
    assert broadcaster.version == 1
    await broadcaster.publish(snapshot(COUNTERS.of_edition("e1")))
    assert broadcaster.version == 2
    viewer = broadcaster.join() if broadcaster.admit() else None  # a viewer that joins gets the latest at once
    assert viewer is not None and await viewer.next_frame() == broadcaster.frame
    assert broadcaster.frame is not None and broadcaster.latest is not None
    assert broadcaster.frame.endswith(b"event: overview\r\ndata: " + broadcaster.latest.encode() + b"\r\n\r\n")


P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


def assert_reads_back(projection: EntityProjection[P, F], payload: P) -> None:
    facts = projection.facts_of_payload(payload)
    stored = projection.row_of(projection.id_of(payload), facts)
    assert stored[projection.key] == projection.id_of(payload)
    row: Any = SimpleNamespace(**stored)  # attribute access, as a database row gives it
    assert projection.facts_of_row(row) == facts


def test_each_projection_reads_back_the_facts_it_stored() -> None:
    delegate = DelegateRegistered(delegate_id="d1", edition_id="e1", country="MY", category=DelegateCategory.guest,
                                  status=DelegateStatus.checked_in)
    project = ProjectSigned(project_id="p1", edition_id="e1", sector=Sector.energy, status=ProjectStatus.signed,
                            amount_cny=Decimal("100.05"), currency="CNY", countries=["MY", "CN", "MY"])
    member = OrganizationJoined(organization_id="o1", name="Org", country="SG", kind=OrganizationKind.other,
                                status=OrganizationStatus.active)
    d, p, o = DelegateProjection(), ProjectProjection(), OrganizationProjection()
    assert_reads_back(d, delegate)
    assert_reads_back(p, project)
    assert_reads_back(o, member)
    assert p.row_of("p1", p.facts_of_payload(project))["countries"] == "CN,MY"
    assert o.contribution(o.facts_of_payload(member)) == {"network_counts": {("SG",): {"organizations": 1}}}
