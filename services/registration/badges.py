"""A delegate's badge as a one-page PDF: names in Latin and Chinese characters, country, organisation,
category and a QR code carrying the badge code (what the check-in desk scans).

The CJK font is WenQuanYi Micro Hei (Apache-2.0/GPLv3 with font exception), from the Debian package
``fonts-wqy-microhei`` that ``make run``, ``make test`` and the Dockerfile install; ``CONFERENCE_BADGE_FONT``
may point at another TTF/OTF/TTC with CJK glyphs (e.g. Noto Sans SC). fpdf2 embeds only the glyphs used.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import pycountry
import segno
from fpdf import FPDF

from services.registration.domain import Delegate, check_approved, check_not_erased
from shared.errors import DomainError
from shared.events.types import DelegateStatus

__all__ = ["BadgeFontMissing", "BadgeUnavailable", "badge_font", "check_badge_allowed", "render_badge"]

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_FAMILY = "badge-cjk"


class BadgeFontMissing(DomainError):
    """No CJK font: the badge cannot be drawn without boxes for Chinese names (an operator's fix)."""

    status = 503
    code = "badge_font_missing"
    title = "Badges cannot be drawn on this server"


@lru_cache(maxsize=1)
def badge_font() -> Path:
    path = Path(os.environ.get("CONFERENCE_BADGE_FONT") or DEFAULT_FONT)
    if not path.is_file():
        raise BadgeFontMissing(f"badge font {path} not found: install fonts-wqy-microhei (make tools) "
                               "or set CONFERENCE_BADGE_FONT to a CJK TTF/OTF")
    return path


def _country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return str(getattr(country, "common_name", None) or country.name) if country else code


def render_badge(delegate: Delegate) -> bytes:
    """The badge PDF (A6 portrait)."""
    pdf = FPDF(orientation="P", unit="mm", format=(105, 148))  # A6
    pdf.set_title(f"Badge {delegate.full_name}")
    pdf.set_creator("conference registration")
    pdf.set_auto_page_break(False)
    pdf.add_font(FONT_FAMILY, fname=str(badge_font()))
    pdf.add_page()
    width = pdf.w - 2 * pdf.l_margin

    def line(text: str, size: float, height: float) -> None:
        pdf.set_font(FONT_FAMILY, size=size)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(width, height, text, align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_y(12)
    line(delegate.full_name, 18, 8)
    if delegate.name_zh:
        line(delegate.name_zh, 20, 10)
    pdf.ln(2)
    line(_country_name(delegate.country), 12, 6)
    if delegate.organization:
        line(delegate.organization, 10, 5)
    line(delegate.category.value.upper(), 11, 6)

    qr = segno.make(delegate.badge_code, error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=8, border=4)
    image.seek(0)
    size = 45.0
    pdf.image(image, x=(pdf.w - size) / 2, y=pdf.h - size - 18, w=size, h=size)
    pdf.set_y(pdf.h - 16)
    line(delegate.badge_code, 9, 5)
    return bytes(pdf.output())


class BadgeUnavailable(DomainError):
    status = 409
    code = "badge_unavailable"
    title = "No badge for this delegate"


def check_badge_allowed(delegate: Delegate) -> None:
    """A cancelled registration has no badge, nor one not (yet) approved (409)."""
    if delegate.status is DelegateStatus.cancelled:
        raise BadgeUnavailable(f"delegate {delegate.id} is cancelled; a cancelled registration has no badge")
    check_not_erased(delegate)
    check_approved(delegate, "the badge is issued once a registrar approves the registration")
