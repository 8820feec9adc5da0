"""The response-time report page speaks Bahasa Indonesia first and English on request: its template, and the
words its script takes from the JavaScript catalogue (/jsi18n/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.test import Client

from accounts.models import Role
from tests.factories import UserFactory

REPORTS_JS = Path(settings.BASE_DIR) / "dispatch" / "static" / "reports" / "reports.js"


def _page(db, language: str | None) -> str:
    client = Client()
    client.force_login(UserFactory(username="report-supervisor", role=Role.SUPERVISOR))
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get("/reports/")
    assert page.status_code == 200
    return page.content.decode()


def _catalog(language: str | None) -> dict[str, str]:
    """The translations /jsi18n/ gives the page's script, as a dict."""
    client = Client()
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    answer = client.get("/jsi18n/")
    assert answer.status_code == 200
    found = re.search(r"const newcatalog = (\{.*?\});\n", answer.content.decode(), re.S)
    return json.loads(found.group(1)) if found else {}  # English, the source language, has no catalogue


def test_the_report_page_is_in_indonesian_by_default(db):
    html = _page(db, None)

    assert '<html lang="id">' in html
    for indonesian in ("Waktu respons", "Dari", "Sampai", "Prioritas", "Semua", "Kecamatan", "Tampilkan",
                       "Ekspor CSV", "Median waktu respons", "Persentil ke-90 waktu respons",
                       "Sebaran waktu respons", "Interval waktu per prioritas"):  # fmt: skip
        assert indonesian in html, indonesian
    for english in ("Response times", "Export CSV", "90th percentile response", "Intervals by priority"):
        assert english not in html, english


def test_the_report_page_is_in_english_when_the_cookie_says_so(db):
    html = _page(db, "en")

    assert '<html lang="en">' in html
    for english in ("Response times", "From", "To", "Priority", "All", "Show", "Export CSV",
                    "90th percentile response", "Intervals by priority"):  # fmt: skip
        assert english in html, english
    for indonesian in ("Waktu respons", "Ekspor CSV", "Tampilkan", "Semua"):
        assert indonesian not in html, indonesian


def test_the_page_loads_the_catalogue_before_its_script(db):
    html = _page(db, None)

    assert '<script src="/jsi18n/">' in html
    assert html.index('src="/jsi18n/"') < html.index("reports/reports.js")


def test_every_word_of_the_report_script_has_its_indonesian(db):
    wrapped = re.findall(r'gettext\("((?:[^"\\]|\\.)*)"\)', REPORTS_JS.read_text(encoding="utf-8"))
    indonesian = _catalog(None)

    assert len(wrapped) >= 20  # the script's words are all wrapped, not written out in English
    assert "L10N" not in REPORTS_JS.read_text(encoding="utf-8")
    missing = sorted({msgid for msgid in wrapped if not indonesian.get(msgid)})
    assert not missing, f"no Indonesian in djangojs.po for {missing}"
    assert indonesian["No incidents for these filters."] == "Tidak ada kejadian untuk filter ini."
    assert indonesian["90th percentile"] == "Persentil ke-90"
    assert indonesian["Priority 1 reached within %(minutes)s min"] == "Prioritas 1 tiba dalam %(minutes)s mnt"


def test_the_catalogue_in_english_gives_the_script_no_indonesian(db):
    english = _catalog("en")

    for msgid in ("No incidents for these filters.", "The report could not be loaded.", "90th percentile"):
        assert english.get(msgid, msgid) == msgid
