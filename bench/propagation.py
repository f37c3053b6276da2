"""Time from a delegate's 201 to the dashboard counting it, against running services.

    python bench/propagation.py --registration http://127.0.0.1:8001 --dashboard http://127.0.0.1:8000 \
        --token "$TOKEN" --samples 100

One write at a time (idle system); the dashboard's /totals is polled as fast as it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registration", default="http://127.0.0.1:8001")
    parser.add_argument("--dashboard", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {args.token}"}, timeout=30) as c:
        edition = (await c.post(f"{args.registration}/editions", json={
            "year": 2025, "starts_on": "2025-07-30", "ends_on": "2025-07-31"})).json()
        edition_id = edition["id"]

        async def registered() -> int:
            r = await c.get(f"{args.dashboard}/totals", params={"edition_id": edition_id})
            return int(r.json()["delegates"]["registered"])

        samples: list[float] = []
        for i in range(args.samples):
            before = await registered()
            r = await c.post(f"{args.registration}/delegates", json={
                "edition_id": edition_id, "full_name": f"Bench {i}", "country": "MY",
                "email": f"bench-{uuid.uuid4().hex}@example.org", "category": "guest"})
            assert r.status_code == 201, r.text
            created = time.perf_counter()
            deadline = created + 30
            while await registered() <= before:
                if time.perf_counter() > deadline:
                    raise SystemExit("the dashboard did not count the delegate within 30 s")
            samples.append((time.perf_counter() - created) * 1000)
    samples.sort()
    q = statistics.quantiles(samples, n=100)
    print(f"samples={len(samples)} p50={statistics.median(samples):.1f}ms p90={q[89]:.1f}ms "
          f"p99={q[98]:.1f}ms max={samples[-1]:.1f}ms")


if __name__ == "__main__":
    asyncio.run(main())
