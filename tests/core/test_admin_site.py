"""The admin site: the dashboard's app list order, and colours that follow the admin's theme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent.parent
HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")
# A hex value is allowed only as the fallback inside var(--x, #hex), and in the one palette file.
FALLBACK = re.compile(r"var\(--[\w-]+,\s*#[0-9a-fA-F]{3,8}\)")
PALETTE = ROOT / "static" / "core" / "theme.css"


@pytest.mark.django_db
def test_app_list_starts_with_the_work_and_ends_with_keys_and_schedules():
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    apps = [app["app_label"] for app in client.get("/admin/").context["app_list"]]
    assert apps[:4] == ["traces", "queues", "datasets", "exports"]
    assert apps[-2:] == ["rest_framework_api_key", "django_celery_beat"]
    html = client.get("/admin/").content.decode()
    positions = [html.index(f'class="app-{label} module') for label in apps]
    assert positions == sorted(positions)
    traces = client.get("/admin/").context["app_list"][0]
    assert [m["object_name"] for m in traces["models"]][:2] == ["Trace", "Span"]
    assert "Review queues" in html


def test_stylesheets_and_templates_take_colours_from_the_admin_theme():
    offenders = []
    for path in [*ROOT.glob("static/**/*.css"), *ROOT.glob("static/**/*.js"), *ROOT.glob("templates/**/*.html")]:
        if path == PALETTE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = FALLBACK.sub("", line)
            if path.suffix == ".html":
                stripped = re.sub(r"\{#.*?#\}|&#\w+;", "", stripped)
            if HEX.search(stripped):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert offenders == []


def test_stylesheets_needing_a_hue_import_the_palette():
    for path in ROOT.glob("static/**/*.css"):
        text = path.read_text()
        if "var(--assay-" in text and path != PALETTE:
            assert '@import url("../core/theme.css");' in text, path
