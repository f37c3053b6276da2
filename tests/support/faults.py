"""Fault injection on the real stack (DESIGN.md §4, §8): the four services as `conference serve`
processes on PostgreSQL + Kafka, a bounded write load, and the checks every fault test ends with.

The end-of-test check (:func:`assert_nothing_lost`):

- the dashboard's ``/totals`` equal every service's ``/stats``, field for field;
- every 201 the load received is present, by id, in the owning service;
- its creation event is on the topic (read from offset 0), and every copy of it carries one event id;
- it is counted once: a service's figure is at least the 201s it answered and at most those plus the
  requests whose answer was lost in flight (a kill mid-request); with none lost, the dashboard equals
  exactly what the load created, per country too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devkit import stack
from devkit.processes import ADMIN_TOKEN, ServiceProcess, service_processes
from devkit.waiting import eventually
from shared.events import InvalidEvent, parse_event
from shared.topology import SERVICE_NAMES, TOPICS
from tests.support import scenario
from tests.support.http_checks import PROBLEM

WRITERS = ("registration", "network", "projects")
CREATED_TYPE = {"registration": "conference.registration.delegate_registered.v1",
                "network": "conference.network.organization_joined.v1",
                "projects": "conference.projects.project_signed.v1"}
PATHS = {"registration": "delegates", "network": "organizations", "projects": "projects"}
COUNTRIES = ("MY", "SG", "TH", "ID", "DE", "BR", "KE", "AU", "FR", "VN", "PH", "JP", "NZ")


# -- the platform -----------------------------------------------------------------------------------------


@dataclass
class Platform:
    """Four `conference serve` processes sharing a topic prefix, each on its own database."""

    procs: dict[str, ServiceProcess]
    prefix: str
    bootstrap: str
    database_urls: dict[str, str]
    edition_id: str = ""

    @property
    def urls(self) -> scenario.Urls:
        return scenario.Urls(**{s: p.url for s, p in self.procs.items()})

    def url(self, service: str) -> str:
        return self.procs[service].url

    def topic(self, service: str) -> str:
        return self.prefix + TOPICS[service]

    def group(self, service: str) -> str:
        return f"{self.prefix}conference-{service}"

    async def restart(self, service: str, env: Mapping[str, str] | None = None) -> None:
        proc = self.procs[service]
        if env is not None:
            proc.env = dict(env)
        proc.start()
        await proc.wait_ready()

    async def metric(self, service: str, name: str, **labels: str) -> float:
        """The sum of a metric's samples on ``service``'s /metrics whose labels include ``labels``."""
        return await process_metric(self.url(service), name, **labels)


async def process_metric(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples on the /metrics at ``url`` whose labels include ``labels``."""
    async with httpx.AsyncClient(timeout=10) as c:
        text = (await c.get(f"{url}/metrics")).text
    return metric_sum(text, name, **labels)


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in sample for k, v in labels.items()):
            total += float(value)
    return total


@contextlib.asynccontextmanager
async def launched(postgres_env: Mapping[str, str], kafka_env: Mapping[str, str], tmp_path: Path, *,
                   database_urls: Mapping[str, str] | None = None,
                   extra_env: Mapping[str, Mapping[str, str]] | None = None) -> AsyncIterator[Platform]:
    """The four services as processes on fresh databases (``database_urls`` overrides some), an edition
    opened and known to the projects service's replica. Stopped and their databases dropped after."""
    # Restarts after a fault are quick: the relay and consumers look for work twice a second.
    async with service_processes(SERVICE_NAMES, postgres_env, kafka_env, tmp_path, database_urls=database_urls,
                                 service_env=extra_env, ready_timeout=90, CONFERENCE_BUS="kafka",
                                 CONFERENCE_POLL_INTERVAL_SECONDS="0.5") as processes:
        platform = Platform(procs=processes.procs, prefix=processes.topic_prefix,
                            bootstrap=stack.kafka_bootstrap(kafka_env), database_urls=processes.database_urls)
        platform.edition_id = await _open_edition(platform)
        yield platform


async def _open_edition(platform: Platform) -> str:
    async with client() as c:
        r = await c.post(f"{platform.url('registration')}/editions", json={
            "year": 2025, "city": "Chongqing", "starts_on": "2025-07-30", "ends_on": "2025-07-31",
            "theme": "Gathering Overseas Chinese on the New Silk Road"})
        assert r.status_code == 201, r.text
        edition_id: str = r.json()["id"]

        async def projects_know_it() -> bool:
            # The replica learns editions from events. The probe names an unknown member, so once the
            # edition is known it is refused for that (422 unknown_organization) and writes nothing.
            r = await c.post(f"{platform.url('projects')}/projects", json={
                "edition_id": edition_id, "title": "probe", "sector": "other", "amount": "1.00", "currency": "CNY",
                "parties": [{"name": "probe", "country": "CN", "organization_id": str(uuid.uuid4())}]})
            assert r.status_code == 422, r.text
            return bool(r.json().get("code") == "unknown_organization")

        await eventually(projects_know_it, timeout=60, interval=0.1)
    return edition_id


def client(**kwargs: Any) -> httpx.AsyncClient:
    # No keep-alive: a request to a killed process fails to *connect* (surely not accepted) instead of
    # being written to a dead pooled connection (outcome unknown).
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=15,
                             limits=httpx.Limits(max_keepalive_connections=0), **kwargs)


# -- the load ---------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    service: str
    started: float
    body: dict[str, Any]
    status: int | None = None  # None: no HTTP answer
    response: dict[str, Any] | None = None
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    # The request never reached a server (connection refused): surely not accepted.
    unsent: bool = False
    url: str = ""  # the process it was sent to

    @property
    def accepted(self) -> bool:
        return self.status == 201

    @property
    def lost_in_flight(self) -> bool:
        """Sent, but the answer never came (the server died mid-request): it may or may not be written."""
        return self.status is None and not self.unsent

    @property
    def entity_id(self) -> str:
        assert self.response is not None
        return str(self.response["id"])


class LoadEnded(Exception):
    """The bounded load finished before the fault test got what it waited for."""


class Load:
    """A bounded write load: ``count`` requests per writing service at a steady pace, one task per
    service so that a dead service does not hold up the others. Records every answer. With ``replicas``
    (a service's processes), its requests go to them in turn, as a round-robin balancer would send them."""

    def __init__(self, platform: Platform, *, count: int, interval: float,
                 services: Iterable[str] = WRITERS,
                 replicas: Mapping[str, list[ServiceProcess]] | None = None) -> None:
        self.platform = platform
        self.replicas = dict(replicas or {})
        self.count = count
        self.interval = interval
        self.services = tuple(services)
        self.attempts: dict[str, list[Attempt]] = {s: [] for s in self.services}
        self._tasks: list[asyncio.Task[None]] = []
        self._run = uuid.uuid4().hex[:8]

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._stream(s), name=f"load-{s}") for s in self.services]
        return self

    @property
    def done(self) -> bool:
        return all(t.done() for t in self._tasks)

    async def wait(self, timeout: float = 180) -> None:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._tasks)

    async def cancel(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stream(self, service: str) -> None:
        write = {"registration": self._register, "network": self._join, "projects": self._sign}[service]
        next_at = time.monotonic()
        async with client() as c:
            for n in range(self.count):
                await write(c, n)
                next_at += self.interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _post(self, c: httpx.AsyncClient, service: str, path: str, body: dict[str, Any]) -> Attempt:
        replicas = self.replicas.get(service)  # in turn: the n-th request goes to replica n mod their count
        url = replicas[len(self.attempts[service]) % len(replicas)].url if replicas else self.platform.url(service)
        attempt = Attempt(service=service, started=time.monotonic(), body=body, url=url)
        self.attempts[service].append(attempt)
        try:
            r = await c.post(f"{url}/{path}", json=body)
        except httpx.ConnectError as exc:
            attempt.unsent, attempt.error = True, repr(exc)
            return attempt
        except httpx.HTTPError as exc:
            attempt.error = repr(exc)
            return attempt
        attempt.status = r.status_code
        attempt.content_type = r.headers.get("content-type", "")
        attempt.headers = dict(r.headers)
        with contextlib.suppress(ValueError):
            attempt.response = r.json()
        return attempt

    async def _register(self, c: httpx.AsyncClient, n: int) -> None:
        await self._post(c, "registration", "delegates", {
            "edition_id": self.platform.edition_id, "full_name": f"Load Delegate {n}",
            "country": COUNTRIES[n % len(COUNTRIES)], "email": f"load-{self._run}-{n}@example.org",
            "category": "representative"})

    async def _join(self, c: httpx.AsyncClient, n: int) -> None:
        await self._post(c, "network", "organizations", {
            "name": f"Overseas Chinese Association {self._run}-{n}", "country": COUNTRIES[(n * 5) % len(COUNTRIES)],
            "kind": "business_association"})

    async def _sign(self, c: httpx.AsyncClient, n: int) -> None:
        await self._post(c, "projects", "projects", {
            "edition_id": self.platform.edition_id, "title": f"Cooperation project {self._run}-{n}",
            "sector": ("green_energy", "digital_economy", "manufacturing")[n % 3],
            "amount": f"{1000 + n * 37}.{n % 100:02d}", "currency": "CNY",
            "parties": [{"name": "Sino Partner", "country": "CN"},
                        {"name": f"Partner {n}", "country": COUNTRIES[(n * 3) % len(COUNTRIES)]}]})

    # -- what happened --------------------------------------------------------------------------------------

    def accepted(self, service: str, after: float = 0.0) -> list[Attempt]:
        return [a for a in self.attempts[service] if a.accepted and a.started >= after]

    def refused(self, service: str) -> list[Attempt]:
        """Answered, but not with a 201."""
        return [a for a in self.attempts[service] if a.status is not None and a.status != 201]

    def unsent(self, service: str) -> list[Attempt]:
        return [a for a in self.attempts[service] if a.unsent]

    def lost_in_flight(self, service: str) -> list[Attempt]:
        return [a for a in self.attempts[service] if a.lost_in_flight]

    def statuses(self, service: str) -> Counter[str]:
        return Counter(str(a.status) if a.status is not None else ("unsent" if a.unsent else "lost")
                       for a in self.attempts[service])

    async def progress(self, service: str, accepted: int = 0, failed: int = 0, after: float = 0.0,
                       timeout: float = 60) -> None:
        """Wait until ``service`` has ``accepted`` more 201s and ``failed`` more failures since ``after``."""
        async def reached() -> bool:
            mine = [a for a in self.attempts[service] if a.started >= after]
            ok = sum(1 for a in mine if a.accepted)
            bad = sum(1 for a in mine if not a.accepted and (a.status is not None or a.error is not None))
            if ok >= accepted and bad >= failed:
                return True
            if self.done:  # not an AssertionError: eventually() must not wait any longer for it
                raise LoadEnded(f"the load ended before {service} reached {accepted} ok / {failed} failed "
                                f"since the mark: {self.summary()}")
            return False
        await eventually(reached, timeout=timeout, interval=0.05)

    def world(self) -> scenario.World:
        world = scenario.World(edition_id=self.platform.edition_id)
        for a in self.accepted("registration") if "registration" in self.services else ():
            world.delegates[a.entity_id] = a.body["country"]
        for a in self.accepted("network") if "network" in self.services else ():
            world.organizations[a.entity_id] = a.body["country"]
        for a in self.accepted("projects") if "projects" in self.services else ():
            world.projects[a.entity_id] = (Decimal(a.body["amount"]), [p["country"] for p in a.body["parties"]])
        return world

    def summary(self) -> dict[str, dict[str, int]]:
        return {s: dict(self.statuses(s)) for s in self.services}

    def assert_no_server_error(self) -> None:
        """No 500 anywhere, and every refusal is a problem document."""
        for service in self.services:
            for a in self.refused(service):
                assert a.status is not None and (a.status < 500 or a.status == 503), (service, a.status, a.response)
                assert a.content_type.split(";")[0] == PROBLEM, (service, a.status, a.content_type)


# -- the topics -------------------------------------------------------------------------------------------


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, bytes]

    def event(self) -> dict[str, Any] | None:
        try:
            event = json.loads(self.value)
        except ValueError:
            return None
        return event if isinstance(event, dict) else None


async def read_topic(bootstrap: str, topic: str) -> list[Record]:
    """Every record of ``topic`` from offset 0 up to its end now (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Record] = []
        async with asyncio.timeout(60):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(*partitions, timeout_ms=500)
                for tp, messages in batches.items():
                    records.extend(Record(topic, tp.partition, m.offset, m.key.decode() if m.key else None,
                                          m.value or b"", {k: v for k, v in m.headers or ()})
                                   for m in messages if m.offset < ends[tp])
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    async def known() -> list[TopicPartition]:
        cluster = await consumer._client.fetch_all_metadata()
        return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
    result: list[TopicPartition] = await eventually(known, timeout=30, interval=0.2)
    return result


@contextlib.asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def produce(p: AIOKafkaProducer, topic: str, value: bytes, *, key: str, partition: int | None = None) -> int:
    """Write one record as a producing service would (or deliberately not); returns its offset."""
    meta = await p.send_and_wait(topic, value, key=key.encode(), partition=partition,
                                 headers=[("content-type", b"application/cloudevents+json")])
    return int(meta.offset)


def crafted_event(event_type: str, subject: str, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/" + event_type.split(".")[1],
        "type": event_type, "subject": subject, "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json", "data": data, "correlationid": "fault-test"}).encode()


@dataclass
class TopicReport:
    records: int
    distinct_events: int
    duplicated_ids: int  # event ids found more than once

    @property
    def extra_copies(self) -> int:
        return self.records - self.distinct_events


async def assert_events_on_topics(platform: Platform, load: Load) -> dict[str, TopicReport]:
    """Each 201's creation event is on its topic; every copy of an aggregate's creation event has one id."""
    reports: dict[str, TopicReport] = {}
    for service in load.services:
        records = await read_topic(platform.bootstrap, platform.topic(service))
        by_subject: dict[str, set[str]] = defaultdict(set)
        ids: Counter[str] = Counter()
        for r in records:
            try:
                event, _ = parse_event(r.value)
            except InvalidEvent:  # a poison message of a test's own
                continue
            ids[event.id] += 1
            if event.type == CREATED_TYPE[service]:
                by_subject[event.subject].add(event.id)
        for a in load.accepted(service):
            assert a.entity_id in by_subject, f"{service} {a.entity_id}: no {CREATED_TYPE[service]} on the topic"
            assert len(by_subject[a.entity_id]) == 1, f"{a.entity_id} created under ids {by_subject[a.entity_id]}"
        reports[service] = TopicReport(records=len(records), distinct_events=len(ids),
                                       duplicated_ids=sum(1 for n in ids.values() if n > 1))
    return reports


# -- the end-of-test check --------------------------------------------------------------------------------


async def figures(platform: Platform, edition_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"edition_id": edition_id} if edition_id else {}
    async with client() as c:
        totals = (await c.get(f"{platform.url('dashboard')}/totals", params=params)).json()
        stats = {
            "delegates": (await c.get(f"{platform.url('registration')}/stats", params=params)).json()["delegates"],
            "projects": (await c.get(f"{platform.url('projects')}/stats", params=params)).json()["projects"],
            "network": (await c.get(f"{platform.url('network')}/stats")).json()["network"],
        }
    return {k: totals[k] for k in stats}, stats


async def assert_converged(platform: Platform, *, edition_id: str | None = None, timeout: float = 90
                           ) -> dict[str, Any]:
    async def converged() -> dict[str, Any]:
        dashboard, stats = await figures(platform, edition_id)
        assert dashboard == stats, f"dashboard {dashboard} != services {stats}"
        return dashboard
    result: dict[str, Any] = await eventually(converged, timeout=timeout, interval=0.2)
    return result


async def assert_all_present(platform: Platform, load: Load) -> None:
    async with client() as c:
        sem = asyncio.Semaphore(8)

        async def present(a: Attempt) -> None:
            async with sem:
                r = await c.get(f"{platform.url(a.service)}/{PATHS[a.service]}/{a.entity_id}")
            assert r.status_code == 200, f"{a.service} lost {a.entity_id}: {r.status_code}"

        await asyncio.gather(*(present(a) for s in load.services for a in load.accepted(s)))


def _counted(service: str, figures: dict[str, Any]) -> int:
    return int({"registration": figures["delegates"]["registered"], "network": figures["network"]["organizations"],
                "projects": figures["projects"]["signed"]}[service])


@dataclass
class Verdict:
    figures: dict[str, Any]
    topics: dict[str, TopicReport]

    def report(self, load: Load) -> str:
        lines = []
        for s in load.services:
            t = self.topics[s]
            lines.append(f"{s}: answers {load.summary()[s]}; topic {t.records} records, {t.distinct_events} events, "
                         f"{t.duplicated_ids} ids seen more than once")
        return "\n".join(lines)


async def assert_nothing_lost(platform: Platform, load: Load, *, edition_id: str | None = None,
                              exact: bool = True) -> Verdict:
    """The closing check of every fault test (see the module docstring). ``edition_id``: compare that
    edition's figures (when a test adds events of other editions of its own); ``exact``: also compare
    the figures, per country, with what the load created when every outcome is known."""
    dashboard = await assert_converged(platform, edition_id=edition_id)
    await assert_all_present(platform, load)
    topics = await assert_events_on_topics(platform, load)
    for service in load.services:
        counted = _counted(service, dashboard)
        accepted, lost = len(load.accepted(service)), len(load.lost_in_flight(service))
        assert accepted <= counted <= accepted + lost, (
            f"{service} counts {counted}, but answered {accepted} 201s and lost {lost} answers in flight")
    if exact and all(not load.lost_in_flight(s) for s in load.services) and set(load.services) == set(WRITERS):
        # Every outcome is known: the figures are exactly what the load created, country by country.
        await scenario.assert_converged(platform.urls, load.world(), timeout=30)
    verdict = Verdict(figures=dashboard, topics=topics)
    print("\n" + verdict.report(load))
    return verdict


async def wait_for_log(path: Path, text: str, *, after: int = 0, timeout: float = 60) -> int:
    """Wait until ``text`` occurs in the log at ``path`` beyond byte ``after``; returns where it ends."""
    async def found() -> int:
        content = path.read_bytes()
        at = content.find(text.encode(), after)
        return at + len(text) if at >= 0 else 0
    position: int = await eventually(found, timeout=timeout, interval=0.02)
    return position

