"""References to stored documents. The workflow only ever holds a `doc-<sha256>` reference."""

from pydantic import BaseModel, Field

DOC_REF_PATTERN = r"^doc-[0-9a-f]{64}$"


class GeneratedDocument(BaseModel):
    """A document the service writes itself, e.g. a reintegration plan."""

    case_ref: str
    kind: str = Field(examples=["reintegration_plan"])
    title: str
    body: str
    officer_ref: str | None = Field(
        default=None, description="The named officer's login: the document activity adds their name and contact")


class StoredDocument(BaseModel):
    doc_ref: str = Field(pattern=DOC_REF_PATTERN)
    content_type: str
    size_bytes: int
