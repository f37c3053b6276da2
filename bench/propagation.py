"""Time from a delegate's 201 to the dashboard counting it, against running services.

    python -m bench.propagation --registration http://127.0.0.1:8001 --dashboard http://127.0.0.1:8000 \
        --token "$TOKEN" --samples 100

One write at a time; the dashboard's /totals is polled as fast as it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx


async def measure(registration: str, dashboard: str, token: str, samples: int) -> list[float]:
    """Milliseconds from each 201 to the dashboard's count including it."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        edition_id = (await c.post(f"{registration}/editions", json={
            "year": 2030, "starts_on": "2030-07-30", "ends_on": "2030-07-31"})).json()["id"]

        async def registered() -> int:
            r = await c.get(f"{dashboard}/totals", params={"edition_id": edition_id})
            return int(r.json()["delegates"]["registered"])

        result: list[float] = []
        for i in range(samples):
            before = await registered()
            r = await c.post(f"{registration}/delegates", json={
                "edition_id": edition_id, "full_name": f"Bench {i}", "country": "MY",
                "email": f"bench-{uuid.uuid4().hex}@example.org", "category": "guest"})
            assert r.status_code == 201, r.text
            created = time.perf_counter()
            deadline = created + 30
            while await registered() <= before:
                if time.perf_counter() > deadline:
                    raise SystemExit("the dashboard did not count the delegate within 30 s")
            result.append((time.perf_counter() - created) * 1000)
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
