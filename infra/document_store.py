"""Content-addressed, encrypted document storage.

A document stored for a case has the reference `doc-<keyed hash of the case reference and the
sha256 of its plaintext>`: the same file uploaded twice to one case is stored once, under one
reference, while the same letter in two children's cases has two unrelated references (nobody who
sees both learns the files are the same). A document stored for no case (older documents) has
`doc-<sha256 of its plaintext>`. Its file
`<root>/<ab>/<cd>/<sha256>.bin` holds one encrypted blob (AES-256-GCM, the reference as
associated data) whose plaintext is the content type followed by the document bytes, so a stolen
storage folder reveals neither contents nor types; file names are hashes of content, not of people.
Writes are atomic (temporary file + `os.replace`) and idempotent (the same content is stored once).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import filetype

from domain.document_models import DOC_REF_PATTERN, StoredDocument
from infra.encryption import Keyring

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PLAIN_TEXT = "text/plain"
HTML = "text/html"
SVG = "image/svg+xml"
XML = "application/xml"
ALLOWED_CONTENT_TYPES: frozenset[str] = frozenset({PDF, PNG, JPEG, DOCX, PLAIN_TEXT})
#: The file name extension a downloaded or exported document is given, by content type.
_EXTENSIONS: dict[str, str] = {PDF: "pdf", PNG: "png", JPEG: "jpg", DOCX: "docx", PLAIN_TEXT: "txt"}


def file_name(doc_ref: str, content_type: str) -> str:
    """The name a document is given when it leaves the service: its reference and an extension
    (`.bin` for a type outside `ALLOWED_CONTENT_TYPES`)."""
    return f"{doc_ref}.{_EXTENSIONS.get(content_type, 'bin')}"

_DOC_REF = re.compile(DOC_REF_PATTERN)
_ENVELOPE_MAGIC = b"CWD1"
#: The envelope of a document stored for a case: the case reference follows the content type.
_CASE_ENVELOPE_MAGIC = b"CWD2"
_TEXT_SNIFF_BYTES = 64 * 1024


class DocumentNotFound(LookupError):
    def __init__(self, doc_ref: str) -> None:
        super().__init__(f"document {doc_ref} is not stored")
        self.doc_ref = doc_ref


class DocumentCorrupted(Exception):
    def __init__(self, doc_ref: str) -> None:
        super().__init__(f"document {doc_ref} failed its integrity check")
        self.doc_ref = doc_ref


def doc_ref_for(data: bytes) -> str:
    """The reference of a document stored for no case."""
    return "doc-" + hashlib.sha256(data).hexdigest()


def case_doc_ref_for(keyring: Keyring, case_ref: str, data: bytes) -> str:
    """The reference of a document stored for a case: unlinkable to the same bytes in another case."""
    return "doc-" + keyring.keyed_hash(f"document|{case_ref}|{hashlib.sha256(data).hexdigest()}")


#: Where each type's last bytes must show the file is whole, and what they must hold there.
_ENDINGS: dict[str, tuple[int, bytes, str]] = {
    PDF: (1024, b"%%EOF", "the PDF is incomplete (it has no end-of-file marker)"),
    PNG: (64, b"IEND", "the PNG image is incomplete (it has no end chunk)"),
    JPEG: (1024, b"\xff\xd9", "the JPEG image is incomplete (it has no end marker)"),
    DOCX: (65_557, b"PK\x05\x06", "the Word document is incomplete (its zip directory is missing)"),
}


def incomplete_reason(data: bytes, content_type: str) -> str | None:
    """Why a file of an allowed type is not whole (cut off in transfer, say), or None when it is."""
    ending = _ENDINGS.get(content_type)
    if ending is None:
        return None
    tail, marker, reason = ending
    if marker not in data[-tail:]:
        return reason + ": it may have been cut off while uploading; send the whole file again"
    return None


def sniff_content_type(data: bytes) -> str | None:
    """The content type judged from the bytes themselves, never from a file name.

    Returns a MIME type (which may be outside `ALLOWED_CONTENT_TYPES`, e.g.
    `application/x-msdownload` for a renamed executable, so callers can say what they refused),
    `text/plain` for UTF-8 text without control characters, or None when unknown."""
    if not data:
        return None
    kind = filetype.guess(data)
    if kind is not None:
        return kind.mime
    sample = data[:_TEXT_SNIFF_BYTES]
    if not _looks_like_text(sample):
        return None
    return _markup_type(sample) or PLAIN_TEXT


_MARKUP_STARTS: tuple[tuple[bytes, str], ...] = (
    (b"<!doctype html", HTML), (b"<html", HTML), (b"<head", HTML), (b"<body", HTML), (b"<script", HTML),
    (b"<svg", SVG), (b"<?xml", XML), (b"<!--", HTML),
)
_MARKUP_ANYWHERE = (b"<script", b"<iframe", b"<html", b"<body", b"javascript:", b"onload=", b"onerror=")


def _markup_type(sample: bytes) -> str | None:
    """Text that is really a web page, an SVG or XML (which a browser may run scripts in) is not
    plain text, whatever it was sent as."""
    head = sample.lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    for start, mime in _MARKUP_STARTS:
        if head.startswith(start):
            return mime
    lowered = sample.lower()
    return HTML if any(tag in lowered for tag in _MARKUP_ANYWHERE) else None


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off at the end of the sample is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    return not any(ord(ch) < 32 and ch not in "\t\n\r\f" or ord(ch) == 127 for ch in text)


class DocumentStore:
    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = Path(root)
        self.keyring = keyring

    def path_for(self, doc_ref: str) -> Path:
        digest = _digest_of(doc_ref)
        return self.root / digest[:2] / digest[2:4] / f"{digest}.bin"

    def put(self, data: bytes, *, content_type: str, case_ref: str | None = None) -> StoredDocument:
        """Store a document, for a case (a reference of that case's own) or for none."""
        doc_ref = doc_ref_for(data) if case_ref is None else case_doc_ref_for(self.keyring, case_ref, data)
        stored = StoredDocument(doc_ref=doc_ref, content_type=content_type, size_bytes=len(data))
        path = self.path_for(doc_ref)
        if path.exists():
            return stored
        ctype = content_type.encode("utf-8")
        scope = (case_ref or "").encode("utf-8")
        if len(ctype) > 255 or len(scope) > 255:
            raise ValueError("content type or case reference too long")
        if case_ref is None:
            envelope = _ENVELOPE_MAGIC + bytes([len(ctype)]) + ctype + data
        else:
            envelope = _CASE_ENVELOPE_MAGIC + bytes([len(ctype)]) + ctype + bytes([len(scope)]) + scope + data
        blob = self.keyring.encrypt(envelope, context=doc_ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return stored

    def get(self, doc_ref: str) -> tuple[bytes, str]:
        """The document's bytes and content type, after checking them against the reference."""
        path = self.path_for(doc_ref)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(doc_ref) from None
        envelope = self.keyring.decrypt(blob, context=doc_ref)
        magic = envelope[: len(_ENVELOPE_MAGIC)]
        if magic not in (_ENVELOPE_MAGIC, _CASE_ENVELOPE_MAGIC) or len(envelope) < len(magic) + 1:
            raise DocumentCorrupted(doc_ref)
        offset = len(magic)
        ctype_len = envelope[offset]
        content_type = envelope[offset + 1 : offset + 1 + ctype_len].decode("utf-8")
        offset += 1 + ctype_len
        case_ref = None
        if magic == _CASE_ENVELOPE_MAGIC:
            if len(envelope) < offset + 1:
                raise DocumentCorrupted(doc_ref)
            scope_len = envelope[offset]
            case_ref = envelope[offset + 1 : offset + 1 + scope_len].decode("utf-8")
            offset += 1 + scope_len
        data = envelope[offset:]
        expected = doc_ref_for(data) if case_ref is None else case_doc_ref_for(self.keyring, case_ref, data)
        if expected != doc_ref:
            raise DocumentCorrupted(doc_ref)
        return data, content_type

    def exists(self, doc_ref: str) -> bool:
        return self.path_for(doc_ref).is_file()

    def erase(self, doc_ref: str) -> bool:
        """Delete a document (retention, subject erasure). True if there was one to delete."""
        path = self.path_for(doc_ref)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
        return True


def _digest_of(doc_ref: str) -> str:
    if not _DOC_REF.match(doc_ref):
        raise ValueError("not a document reference (expected doc-<sha256 hex>)")
    return doc_ref[4:]
