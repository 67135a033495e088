"""Policy ``review.hold: series``: while one instance of a series waits in the quarantine,
the rest of that series waits too, so the research PACS never gets a series with holes
without an admin knowing.

:func:`apply` turns a *forward* verdict into a quarantine verdict (stage ``hold``, reason
``series-held``) when the instance's new Series Instance UID has a held entry that was
quarantined for a real reason. The instance's candidate passed every stage; the admin
releases it with the series (or alone) from the console. The node calls :func:`apply`
before filing a verdict (see docs/review.md for the hook in the worker).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from deid_node.quarantine import Entry, Quarantine

STAGE, REASON = "hold", "series-held"


def policy(settings: Any) -> str:
    section = settings.section("review")
    return str(section.get("hold", "none") or "none") if section.get("enabled", False) else "none"


def triggers(q: Quarantine, series_uid: str | None) -> list[Entry]:
    """Held entries of the series that hold it (quarantined for a reason of their own)."""
    if not series_uid:
        return []
    return [e for e in q.list("held") if e.series_uid == series_uid and e.reason != REASON]


def held_siblings(q: Quarantine, series_uid: str | None, but: str | None = None) -> list[Entry]:
    """Entries of the series held only by this policy."""
    if not series_uid:
        return []
    return [e for e in q.list("held") if e.series_uid == series_uid and e.reason == REASON
            and e.id != but]


def apply(verdict: Any, q: Quarantine, settings: Any) -> Any:
    """The verdict to file: unchanged, or held for its series."""
    if verdict.action != "forward" or policy(settings) != "series":
        return verdict
    held = triggers(q, verdict.uids.get("series_uid"))
    if not held:
        return verdict
    report = {**verdict.report, "stage": STAGE, "reason": REASON, "holds": [[STAGE, REASON]],
              "held_for": [e.id for e in held]}
    return replace(verdict, action="quarantine", stage=STAGE, reason=REASON, report=report)
