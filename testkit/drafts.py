"""Every pending draft at once, for tests that read a handful: production reads
`accounting.posting.draft_chunks` a chunk at a time (a month end holds thousands)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from accounting.posting import DraftEntry, draft_chunks, unposted


def pending_drafts(session: Session, *, through_date: dt.date | None = None) -> list[DraftEntry]:
    """Every invoice and event no batch holds (dated on or before through_date), as
    balanced draft entries in posting order, each dated its posting date (SPEC §8)."""
    drafts: list[DraftEntry] = []
    for chunk, _context in draft_chunks(session, unposted(session, through_date=through_date)):
        drafts += chunk
    return drafts
