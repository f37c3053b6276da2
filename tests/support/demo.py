"""What the 2025 replay must show, and the dashboard rebuild that must end with the same figures."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx

from devkit.waiting import eventually
from tests.support import scenario


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"conference {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


async def announced_figures(urls: scenario.Urls) -> dict[str, Any]:
    """Wait until the dashboard equals every service's /stats, then check the announced figures."""
    async with scenario.client() as c:
        async def settled() -> bool:
            dashboard, stats = await scenario.figures(c, urls)
            assert dashboard == stats, f"dashboard {dashboard} != services {stats}"
            return bool(dashboard["projects"]["signed"] == 66)
        await eventually(settled, timeout=180, interval=0.2)
        totals: dict[str, Any] = (await c.get(f"{urls.dashboard}/totals")).json()
    assert totals["delegates"]["registered"] > 500
    assert totals["delegates"]["countries"] > 110
    assert totals["delegates"]["checked_in"] > totals["delegates"]["registered"] * 0.8
    assert totals["projects"]["signed"] == 66
    assert totals["projects"]["amount_cny"] == "43790000000.00"
    by_sector = totals["projects"]["by_sector"]
    largest = sorted(by_sector, key=lambda s: -float(by_sector[s]["amount_cny"]))[:2]
    assert set(largest) == {"green_energy", "digital_economy"}
    assert totals["network"]["countries"] == 72
    return totals


async def read_model(urls: scenario.Urls) -> tuple[dict[str, Any], dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as c:
        totals = (await c.get(f"{urls.dashboard}/totals")).json()
        countries = (await c.get(f"{urls.dashboard}/countries")).json()
    totals.pop("updated_at")
    return totals, countries
