"""Reads back what a report states, so tests can compare it with what the runs used."""

import html
import re
from pathlib import Path


def settings_table(page: str | Path) -> dict[str, str]:
    """{setting: value as shown} of a report page's settings table (`html.settings_table`)."""
    text = Path(page).read_text() if isinstance(page, Path) else page
    match = re.search(r'<table class="settings">.*?<tbody>(.*?)</tbody></table>', text, re.S)
    assert match, "the page has no settings table"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows[cells[0]] = cells[1]
    return rows


def shown(value) -> str:
    """A config value as the settings table shows it."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def assert_settings_match(page, config: dict) -> None:
    """Every setting the page states equals the config's value, and the page states some."""
    rows = settings_table(page)
    assert rows, "the settings table is empty"
    for setting, value in rows.items():
        assert setting in config, f"the report states {setting}, which the config lacks"
        assert shown(config[setting]) == value, (setting, value, config[setting])
