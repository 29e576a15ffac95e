"""Encrypted, content-addressed document storage, content sniffing and the generated-document activity."""

import hashlib
import io
import os
import zipfile

import pytest
from sqlmodel import SQLModel, select
from temporalio.testing import ActivityEnvironment

from activities.documents import DocumentActivities
from domain.document_models import GeneratedDocument
from infra.document_store import (
    ALLOWED_CONTENT_TYPES,
    DOCX,
    JPEG,
    PDF,
    PLAIN_TEXT,
    PNG,
    DocumentCorrupted,
    DocumentNotFound,
    DocumentStore,
    doc_ref_for,
    sniff_content_type,
)
from infra.encryption import EncryptionError, Keyring
from readmodel.database import make_engine, session_scope
from readmodel.tables import DocumentRow
from tests.support import make_settings

LETTER = (
    b"%PDF-1.7\n% GP letter\nRe: Amelia Hartley (DOB 09/03/2014)\n"
    b"Diagnosis: chronic fatigue syndrome. Unable to attend school for at least 8 weeks.\n%%EOF\n"
)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([("k1", os.urandom(32))])


@pytest.fixture
def store(tmp_path, keyring) -> DocumentStore:
    return DocumentStore(tmp_path / "documents", keyring)


def stored_files(root):
    return [p for p in root.rglob("*") if p.is_file()]


def test_put_get_round_trip(store):
    stored = store.put(LETTER, content_type=PDF)
    digest = hashlib.sha256(LETTER).hexdigest()
    assert stored.doc_ref == f"doc-{digest}"
    assert stored.size_bytes == len(LETTER)
    assert stored.content_type == PDF
    assert store.path_for(stored.doc_ref) == store.root / digest[:2] / digest[2:4] / f"{digest}.bin"
    assert store.exists(stored.doc_ref)
    assert store.get(stored.doc_ref) == (LETTER, PDF)


def test_stored_bytes_reveal_nothing(store):
    store.put(LETTER, content_type=PDF)
    [path] = stored_files(store.root)
    raw = path.read_bytes()
    for fragment in (b"Amelia", b"Hartley", b"2014", b"fatigue", b"%PDF", b"application/pdf", b"GP letter"):
        assert fragment not in raw
    # Nor do the names: only hashes of the content.
    assert "Amelia" not in str(path)


def test_put_is_idempotent(store):
    first = store.put(LETTER, content_type=PDF)
    mtime = store.path_for(first.doc_ref).stat().st_mtime_ns
    again = store.put(LETTER, content_type=PDF)
    assert again == first
    assert len(stored_files(store.root)) == 1
    assert store.path_for(first.doc_ref).stat().st_mtime_ns == mtime
    assert not [p for p in store.root.rglob(".tmp-*")]


def test_tampered_file_is_refused(store):
    stored = store.put(LETTER, content_type=PDF)
    path = store.path_for(stored.doc_ref)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(EncryptionError):
        store.get(stored.doc_ref)


def test_file_moved_to_another_reference_is_refused(store):
    a = store.put(b"letter A", content_type=PLAIN_TEXT)
    b = store.put(b"letter B", content_type=PLAIN_TEXT)
    store.path_for(b.doc_ref).write_bytes(store.path_for(a.doc_ref).read_bytes())
    with pytest.raises(EncryptionError):
        store.get(b.doc_ref)


def test_hash_is_verified_after_decryption(store, keyring):
    # Someone holding the key writes other content under a reference: the hash check catches it.
    ref = doc_ref_for(b"the real letter")
    forged = keyring.encrypt(b"CWD1" + bytes([10]) + b"text/plain" + b"a forged letter", context=ref)
    path = store.path_for(ref)
    path.parent.mkdir(parents=True)
    path.write_bytes(forged)
    with pytest.raises(DocumentCorrupted):
        store.get(ref)


def test_unknown_and_malformed_references(store):
    with pytest.raises(DocumentNotFound):
        store.get(doc_ref_for(b"never stored"))
    assert not store.exists(doc_ref_for(b"never stored"))
    for bad in ("doc-../../etc/passwd", "doc-" + "A" * 64, "letter.pdf", "doc-" + "0" * 63):
        with pytest.raises(ValueError):
            store.get(bad)


def test_erase(store):
    stored = store.put(LETTER, content_type=PDF)
    keep = store.put(b"another", content_type=PLAIN_TEXT)
    assert store.erase(stored.doc_ref) is True
    assert not store.exists(stored.doc_ref)
    assert store.erase(stored.doc_ref) is False
    assert not store.path_for(stored.doc_ref).parent.exists()  # empty folders go too
    assert store.get(keep.doc_ref) == (b"another", PLAIN_TEXT)


def test_documents_written_with_an_old_key_still_read_after_rotation(tmp_path):
    old_key = os.urandom(32)
    old = DocumentStore(tmp_path, Keyring([("old", old_key)]))
    stored = old.put(LETTER, content_type=PDF)
    rotated = DocumentStore(tmp_path, Keyring([("new", os.urandom(32)), ("old", old_key)]))
    assert rotated.get(stored.doc_ref) == (LETTER, PDF)


# -- content sniffing -----------------------------------------------------------------------------


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (LETTER, PDF),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32, JPEG),
        (_docx(), DOCX),
        ("Appointment card: clinic on 3 October, 10:30.\r\nDr Patel\u2019s clinic\n".encode(), PLAIN_TEXT),
        (b"", None),
        (b"\x00\x01\x02\x03binary\x00junk", None),
        (b"ok text then a bell \x07", None),
    ],
)
def test_sniff_content_type(data, expected):
    assert sniff_content_type(data) == expected


def test_allowed_types():
    assert {PDF, PNG, JPEG, DOCX, PLAIN_TEXT} == ALLOWED_CONTENT_TYPES


def test_executable_renamed_pdf_is_rejected(tmp_path):
    # A Windows executable saved as "letter.pdf": the name says PDF, the bytes do not.
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
    path = tmp_path / "letter.pdf"
    path.write_bytes(exe)
    sniffed = sniff_content_type(path.read_bytes())
    assert sniffed != PDF
    assert sniffed not in ALLOWED_CONTENT_TYPES


def test_text_cut_in_the_middle_of_a_character_is_still_text():
    data = ("é" * 40_000).encode()  # 80,000 bytes: the 64 KiB sample ends on a character boundary or not
    assert sniff_content_type(data) == PLAIN_TEXT
    assert sniff_content_type(data[:-1]) == PLAIN_TEXT


# -- the generated-document activity --------------------------------------------------------------


def test_store_generated_document_activity(tmp_path, keyring):
    settings = make_settings(tmp_path, encryption_keys=None)
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    activities = DocumentActivities(settings, keyring=keyring, engine=engine)
    doc = GeneratedDocument(
        case_ref="MN-26-7K3Q9P",
        kind="reintegration_plan",
        title="Reintegration plan",
        body="Mornings only for two weeks, then full days from 10 November.",
    )
    env = ActivityEnvironment()
    first = env.run(activities.store_generated_document, doc)
    again = env.run(activities.store_generated_document, doc)
    assert first == again
    assert first.content_type == PLAIN_TEXT

    store = DocumentStore(settings.document_dir, keyring)
    data, content_type = store.get(first.doc_ref)
    text = data.decode()
    assert text.startswith("# Reintegration plan\n")
    assert "MN-26-7K3Q9P" in text and "Mornings only" in text
    assert sniff_content_type(data) == PLAIN_TEXT

    with session_scope(engine) as session:
        rows = session.exec(select(DocumentRow)).all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.doc_ref, row.case_ref, row.kind, row.stored_by) == (
            first.doc_ref,
            "MN-26-7K3Q9P",
            "reintegration_plan",
            "system",
        )
        assert row.size_bytes == len(data)
    engine.dispose()
