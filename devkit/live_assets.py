"""Regenerates the live page's shipped assets, so that a hall screen with no fonts of its own and no network
shows Chinese and flags (services/dashboard/static/):

- ``countries.json``: every ISO 3166-1 country's name in English and Chinese, from pycountry (its zh_CN catalog);
- ``flags/``: the 4x3 SVG flags of the `flag-icons` npm package, one pinned version, checked against its hash;
- ``fonts/live-cjk.woff2``: WenQuanYi Micro Hei (Debian's fonts-wqy-microhei, ``make fonts``) cut down to exactly
  the Chinese characters the page can show (its dictionary in live.js, index.html, the Chinese country names).

``python -m devkit.live_assets [countries|flags|font]`` (no argument: all three, in that order: the font covers the
names the first one writes). The outputs are committed; tests/unit/test_live_page_assets.py checks they agree.
"""

from __future__ import annotations

import base64
import gettext
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pycountry
from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "services" / "dashboard" / "static"
COUNTRIES = STATIC / "countries.json"
FLAGS = STATIC / "flags"
FONT = STATIC / "fonts" / "live-cjk.woff2"
# The sources of every Chinese string the page shows.
PAGE_TEXT = (STATIC / "index.html", STATIC / "live.js", COUNTRIES)

FLAG_ICONS = "flag-icons@7.5.0"
FLAG_ICONS_INTEGRITY = "sha512-kd+MNXviFIg5hijH766tt+3x76ele1AXlo4zDdCxIvqWZhKt4T83bOtxUOOMlTx/EcFdUMH5yvQgYlFh1EqqFg=="
SOURCE_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
# The blocks the @font-face of live.css claims (its unicode-range): CJK punctuation, ideographs (extension A and
# the unified block) and full-width forms. Latin text keeps the screen's own fonts.
CJK = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def country_names() -> dict[str, dict[str, str]]:
    """``{"MY": {"en": "Malaysia", "zh": "马来西亚"}, ...}``: the short (common) name where pycountry has one,
    as the badge prints it (services/registration/badges.py)."""
    chinese = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    names: dict[str, dict[str, str]] = {}
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        english = str(getattr(country, "common_name", None) or country.name)
        names[country.alpha_2] = {"en": english, "zh": chinese.gettext(english)}
    return names


def write_countries() -> None:
    lines = [f"{json.dumps(code)}: {json.dumps(names, ensure_ascii=False)}" for code, names in country_names().items()]
    COUNTRIES.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")  # a country a line: short diffs


def write_flags() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", FLAG_ICONS, "--silent", "--pack-destination", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        (tarball,) = Path(tmp).glob("*.tgz")
        algorithm, expected = FLAG_ICONS_INTEGRITY.split("-", 1)
        digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
        if digest != expected:
            sys.exit(f"{FLAG_ICONS}: the tarball's {algorithm} is {digest}, not the pinned {expected}")
        shutil.rmtree(FLAGS, ignore_errors=True)
        FLAGS.mkdir(parents=True)
        codes = {country.alpha_2.lower() for country in pycountry.countries}
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                name = member.name.removeprefix("package/")
                if name == "LICENSE" or (name.startswith("flags/4x3/") and Path(name).stem in codes):
                    extracted = archive.extractfile(member)
                    assert extracted is not None, member.name
                    (FLAGS / Path(name).name).write_bytes(extracted.read())
    missing = sorted(code for code in codes if not (FLAGS / f"{code}.svg").exists())
    if missing:
        sys.exit(f"{FLAG_ICONS} has no flag for {missing}")


def page_characters() -> set[str]:
    """Every character of :data:`CJK` the page can show."""
    return {ch for path in PAGE_TEXT for ch in CJK.findall(path.read_text(encoding="utf-8"))}


def write_font() -> None:
    if not SOURCE_FONT.exists():
        sys.exit(f"{SOURCE_FONT} is missing: `make fonts` installs Debian's fonts-wqy-microhei")
    wanted = page_characters()
    # The .ttc's proportional face (1 is its monospaced one); the source's date kept: the same bytes every run.
    font = TTFont(SOURCE_FONT, fontNumber=0, recalcTimestamp=False)
    missing = sorted(ch for ch in wanted if ord(ch) not in font.getBestCmap())
    if missing:
        sys.exit(f"{SOURCE_FONT.name} has no glyph for {''.join(missing)}")
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # keeps the copyright and licence records
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(map(ord, wanted)))
    subsetter.subset(font)
    FONT.parent.mkdir(parents=True, exist_ok=True)
    font.flavor = "woff2"
    font.save(FONT)
    print(f"{FONT.relative_to(ROOT)}: {len(wanted)} characters, {FONT.stat().st_size} bytes")


STEPS = {"countries": write_countries, "flags": write_flags, "font": write_font}


def main(argv: list[str]) -> None:
    unknown = [step for step in argv if step not in STEPS]
    if unknown:
        sys.exit(f"usage: python -m devkit.live_assets [{'|'.join(STEPS)}] (unknown: {unknown})")
    for step in argv or list(STEPS):
        STEPS[step]()


if __name__ == "__main__":
    main(sys.argv[1:])
