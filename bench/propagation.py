"""Time from a delegate's 201 to the dashboard counting it, against running services.

    python -m bench.propagation --registration http://127.0.0.1:8001 --dashboard http://127.0.0.1:8000 \
        --token "$TOKEN" --samples 100

One write at a time; the dashboard's /totals is polled as fast as it answers (the goal's measure). That
polling is a load of its own on the dashboard (about a fifth of its CPU in a trace, the apply's statements
queueing behind its requests), so with ``read_model`` (an asyncpg DSN of the dashboard's database,
PostgreSQL) the client instead LISTENs on the read model's channel, which the dashboard NOTIFYs at every
commit of its figures (what every replica's live page moves on), and the delegate counts from the first
notification after which /totals includes it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg
import httpx

READ_MODEL_CHANNEL = "dashboard_read_model"  # services.dashboard.models.READ_MODEL_CHANNEL


async def measure(registration: str, dashboard: str, token: str, samples: int, *, read_model: str | None = None
                  ) -> list[float]:
    """Milliseconds from each 201 to the dashboard's count including it (see the module's text for
    ``read_model``, an asyncpg DSN of the dashboard's database)."""
    committed = asyncio.Event()
    listener = None
    if read_model is not None:
        listener = await asyncpg.connect(read_model)
        await listener.add_listener(READ_MODEL_CHANNEL, lambda *_: committed.set())
    try:
        return await _measure(registration, dashboard, token, samples, committed if listener else None)
    finally:
        if listener is not None:
            await listener.close()


async def _measure(registration: str, dashboard: str, token: str, samples: int, committed: asyncio.Event | None
                   ) -> list[float]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        edition_id = (await c.post(f"{registration}/editions", json={
            "year": 2030, "starts_on": "2030-07-30", "ends_on": "2030-07-31"})).json()["id"]

        async def registered() -> int:
            r = await c.get(f"{dashboard}/totals", params={"edition_id": edition_id})
            return int(r.json()["delegates"]["registered"])

        result: list[float] = []
        for i in range(samples):
            before = await registered()
            if committed is not None:
                committed.clear()
            r = await c.post(f"{registration}/delegates", json={
                "edition_id": edition_id, "full_name": f"Bench {i}", "country": "MY",
                "email": f"bench-{uuid.uuid4().hex}@example.org", "category": "guest"})
            assert r.status_code == 201, r.text
            created = seen = time.perf_counter()
            deadline = created + 30
            while True:
                if committed is not None:  # a commit of the read model: does it include the delegate?
                    try:
                        await asyncio.wait_for(committed.wait(), max(deadline - time.perf_counter(), 0.001))
                    except TimeoutError:
                        raise SystemExit("the dashboard's read model did not commit within 30 s") from None
                    seen = time.perf_counter()
                    committed.clear()
                if await registered() > before:
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit("the dashboard did not count the delegate within 30 s")
                seen = time.perf_counter()
            result.append((seen - created) * 1000)
    return result


def percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": statistics.median(samples), "p90": q[89], "p99": q[98], "max": max(samples)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registration", default="http://127.0.0.1:8001")
    parser.add_argument("--dashboard", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    p = percentiles(await measure(args.registration, args.dashboard, args.token, args.samples))
    print(f"samples={args.samples} " + " ".join(f"{k}={v:.1f}ms" for k, v in p.items()))


if __name__ == "__main__":
    asyncio.run(main())
