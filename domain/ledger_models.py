"""A batch of recoupment lines for the finance ledger, and what posting them did."""

from pydantic import BaseModel

from domain.recoupment import RecoupmentLine


class RecoupmentPosting(BaseModel):
    lines: list[RecoupmentLine]


class PostingReceipt(BaseModel):
    posted: int
    already_posted: int
