"""The live page's shipped assets cover what it shows: its CJK font has a glyph for every Chinese character of its
text and country names, every country has a Chinese name and a flag (so no box on a screen without fonts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pycountry
from fontTools.ttLib import TTFont

from devkit.live_assets import country_names

STATIC = Path(__file__).resolve().parents[2] / "services" / "dashboard" / "static"
PAGE_TEXT = ("index.html", "live.js", "countries.json")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _claimed_ranges() -> list[range]:
    """The code points live.css's @font-face claims for the page's font (its unicode-range)."""
    css = (STATIC / "live.css").read_text(encoding="utf-8")
    claimed = re.search(r"@font-face\s*{[^}]*unicode-range:([^;}]+)", css)
    assert claimed, "live.css has no @font-face with a unicode-range"
    ranges = []
    for part in claimed.group(1).split(","):
        low, _, high = part.strip().removeprefix("U+").partition("-")
        ranges.append(range(int(low, 16), int(high or low, 16) + 1))
    return ranges


def _page_characters() -> set[str]:
    return {ch for name in PAGE_TEXT for ch in (STATIC / name).read_text(encoding="utf-8") if ord(ch) > 0x7F}


def test_the_font_has_a_glyph_for_every_chinese_character_the_page_shows() -> None:
    ranges = _claimed_ranges()
    characters = _page_characters()
    han = {ch for ch in characters if HAN.match(ch)}
    assert len(han) > 300, "the page's Chinese strings and country names were not read"
    # Every Chinese character falls in the font's ranges, so the browser takes it from the page's font...
    assert {ch for ch in han if not any(ord(ch) in r for r in ranges)} == set()
    # ...and the font has it.
    cmap = TTFont(STATIC / "fonts" / "live-cjk.woff2").getBestCmap()
    claimed = {ch for ch in characters if any(ord(ch) in r for r in ranges)}
    missing = sorted(ch for ch in claimed if ord(ch) not in cmap)
    assert missing == [], f"live-cjk.woff2 lacks {''.join(missing)}: run `python -m devkit.live_assets font`"


def test_every_country_has_a_chinese_name_and_a_flag() -> None:
    shipped = json.loads((STATIC / "countries.json").read_text(encoding="utf-8"))
    assert shipped == country_names(), "countries.json is stale: run `python -m devkit.live_assets countries`"
    assert set(shipped) == {country.alpha_2 for country in pycountry.countries}
    assert shipped["MY"] == {"en": "Malaysia", "zh": "马来西亚"}
    assert [code for code, names in shipped.items() if not HAN.search(names["zh"])] == []
    for code in shipped:
        svg = (STATIC / "flags" / f"{code.lower()}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg and 'viewBox="0 0 640 480"' in svg, code  # flag-icons' 4x3 set
    assert "MIT License" in (STATIC / "flags" / "LICENSE").read_text(encoding="utf-8")
    assert "Apache" in (STATIC / "fonts" / "LICENSE").read_text(encoding="utf-8")
