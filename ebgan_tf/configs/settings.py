"""Settings that say where their values come from, and the ids derived from them.

Every field of a config is declared with `setting(default, source, why)`. The source is one of

  paper     verified in the paper's text, tables or figures (paper.md: VERIFIED);
  recalled  from the paper's appendix as recalled, not verified (paper.md: RECALLED);
  choice    the paper is silent: this suite's default, with the reason;
  run       what identifies one run (its kind, seed, budget), not a modelling decision.

Reports build their "settings" tables from this metadata and the values a run actually used
(`settings_rows`), so a setting is stated once: here, beside its default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

SOURCES = ("paper", "recalled", "choice", "run")


def setting(default, source: str, why: str = "", added_later: bool = False):
    """A dataclass field with its provenance (`source`, one of `SOURCES`) and reason.

    `added_later`: the field came after runs were committed under ids that did not hash it. At
    its default it is left out of `id_payload` (what ids hash), so those runs keep their ids and
    are not re-run; any other value is hashed like every setting. config.json holds it always."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return dataclasses.field(default=default, metadata={"source": source, "why": why,
                                                        "added_later": added_later})


def id_payload(config) -> dict:
    """The config's fields as a dict for its id: all of them but the `added_later` fields at
    their default (`type(config)(**d)` still restores the config)."""
    d = dataclasses.asdict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get("added_later") and getattr(config, f.name) == f.default:
            del d[f.name]
    return d


def settings_rows(config, sources=SOURCES) -> list[dict]:
    """One row per field of `config` whose source is in `sources`: setting, value, source, why."""
    rows = []
    for f in dataclasses.fields(config):
        source = f.metadata.get("source", "run")
        if source in sources:
            rows.append({"setting": f.name, "value": _plain(getattr(config, f.name)),
                         "source": source, "why": f.metadata.get("why", "")})
    return rows


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def stable_id(readable: str, payload: dict) -> str:
    """`readable` plus the first 10 hex digits of the sha256 of `payload` (JSON, sorted keys).

    The payload holds every setting that changes a run's numbers, so a changed setting is a new
    id (a new folder), and the same settings find their finished folder again."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
    return f"{readable}-{digest}"
