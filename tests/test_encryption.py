"""The keyring (AES-256-GCM, key rotation, keyed hashes) and the Temporal payload codec."""

import base64
import dataclasses
import os
import stat
from datetime import date

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from infra.encryption import (
    EncryptionError,
    Keyring,
    UnknownKeyError,
    dev_key_path,
    generate_key_spec,
    main,
    parse_key_spec,
)
from infra.payload_codec import ENCRYPTED_ENCODING, KEY_ID_METADATA, EncryptionCodec, codec_from_settings
from infra.settings import ConfigurationError, Settings
from tests import support

OLD_KEY = os.urandom(32)
NEW_KEY = os.urandom(32)
SECRET = b"Amelia Hartley, born 2014-03-09, diagnosis: chronic fatigue syndrome"


class Child(BaseModel):
    given_name: str
    family_name: str
    date_of_birth: date
    diagnosis: str


CHILD = Child(
    given_name="Amelia", family_name="Hartley", date_of_birth=date(2014, 3, 9), diagnosis="chronic fatigue"
)


def spec(*pairs: tuple[str, bytes]) -> str:
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in pairs)


def make_settings(tmp_path, **overrides) -> Settings:
    """The shared test settings under tmp_path/var, with no encryption key unless given one."""
    return support.make_settings(tmp_path / "var", **{"encryption_keys": None, **overrides})


# -- keyring --------------------------------------------------------------------------------------


def test_round_trip_and_format():
    ring = Keyring([("k1", OLD_KEY)])
    blob = ring.encrypt(SECRET, context="case-MN-26-7K3Q9P")
    assert SECRET not in blob
    assert blob[0] == 1 and blob[1] == 2 and blob[2:4] == b"k1"
    assert len(blob) == 1 + 1 + 2 + 12 + len(SECRET) + 16
    assert ring.decrypt(blob, context="case-MN-26-7K3Q9P") == SECRET
    # Fresh nonce each time.
    assert ring.encrypt(SECRET, context="c") != ring.encrypt(SECRET, context="c")


def test_context_is_bound():
    ring = Keyring([("k1", OLD_KEY)])
    blob = ring.encrypt(SECRET, context="doc-a")
    with pytest.raises(EncryptionError):
        ring.decrypt(blob, context="doc-b")


def test_rotation_old_blobs_still_decrypt():
    old_ring = Keyring.from_spec(spec(("2024-01", OLD_KEY)))
    blob = old_ring.encrypt(SECRET, context="ctx")

    rotated = Keyring.from_spec(spec(("2025-09", NEW_KEY), ("2024-01", OLD_KEY)))
    assert rotated.active_key_id == "2025-09"
    assert rotated.decrypt(blob, context="ctx") == SECRET
    new_blob = rotated.encrypt(SECRET, context="ctx")
    assert Keyring.key_id_of(new_blob) == "2025-09"
    # The old deployment cannot read data written with the new key, and says which key is missing.
    with pytest.raises(UnknownKeyError, match="2025-09"):
        old_ring.decrypt(new_blob, context="ctx")


@pytest.mark.parametrize("position", [20, -1, -20])
def test_tampering_is_detected(position):
    ring = Keyring([("k1", OLD_KEY)])
    blob = bytearray(ring.encrypt(SECRET, context="ctx"))
    blob[position] ^= 0x01
    with pytest.raises(EncryptionError) as info:
        ring.decrypt(bytes(blob), context="ctx")
    assert "Amelia" not in str(info.value)


def test_truncated_and_foreign_blobs():
    ring = Keyring([("k1", OLD_KEY)])
    blob = ring.encrypt(SECRET, context="ctx")
    for bad in (b"", b"\x01", blob[:10], b"\x02" + blob[1:], b"plain text, not ours"):
        with pytest.raises(EncryptionError):
            ring.decrypt(bad, context="ctx")


def test_unknown_key_error_names_key_not_data():
    blob = Keyring([("retired-key", OLD_KEY)]).encrypt(SECRET, context="ctx")
    ring = Keyring([("k2", NEW_KEY)])
    with pytest.raises(UnknownKeyError) as info:
        ring.decrypt(blob, context="ctx")
    message = str(info.value)
    assert "retired-key" in message
    assert info.value.key_id == "retired-key"
    for fragment in ("Amelia", "Hartley", "fatigue", base64.b64encode(OLD_KEY).decode()):
        assert fragment not in message


def test_keyed_hash_is_stable_across_rotation():
    before = Keyring([("2024-01", OLD_KEY)])
    after = Keyring([("2025-09", NEW_KEY), ("2024-01", OLD_KEY)])
    value = "amelia|hartley|2014-03-09|123456"
    assert before.keyed_hash(value) == after.keyed_hash(value)
    assert after.hash_key_id == "2024-01"
    assert len(before.keyed_hash(value)) == 64
    assert before.keyed_hash(value) != before.keyed_hash(value + "x")
    # Depends on the key: someone without it cannot recompute it from a guessed child.
    assert Keyring([("other", NEW_KEY)]).keyed_hash(value) != before.keyed_hash(value)


def test_key_spec_parsing_errors_never_show_key_material():
    key_b64 = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ValueError, match="must be 32 bytes") as info:
        parse_key_spec(f"short:{key_b64}")
    assert key_b64 not in str(info.value)
    with pytest.raises(ValueError, match="not valid base64"):
        parse_key_spec("k1:not base64!!")
    with pytest.raises(ValueError, match="twice"):
        parse_key_spec(spec(("k1", OLD_KEY), ("k1", NEW_KEY)))
    with pytest.raises(ValueError):
        parse_key_spec("bad id:" + base64.b64encode(OLD_KEY).decode())
    with pytest.raises(ValueError):
        parse_key_spec(" , ")


def test_generate_key_spec_and_cli(capsys):
    ring = Keyring.from_spec(generate_key_spec("2025-09"))
    assert ring.active_key_id == "2025-09"
    assert main(["new-key", "k7"]) == 0
    printed = capsys.readouterr().out.strip()
    assert Keyring.from_spec(printed).active_key_id == "k7"
    assert main(["new-key", "bad id"]) == 2
    assert main([]) == 2


# -- keys from settings ---------------------------------------------------------------------------


def test_from_settings_uses_configured_keys(tmp_path):
    settings = make_settings(tmp_path, encryption_keys=spec(("a", NEW_KEY), ("b", OLD_KEY)))
    ring = Keyring.from_settings(settings)
    assert ring.key_ids == ("a", "b")
    assert not dev_key_path(settings).exists()


def test_bad_configured_keys_stop_with_one_line(tmp_path):
    settings = make_settings(tmp_path, encryption_keys="k1:" + base64.b64encode(b"x" * 31).decode())
    with pytest.raises(ConfigurationError) as info:
        Keyring.from_settings(settings)
    message = str(info.value)
    assert "CASEWORK_ENCRYPTION_KEYS" in message and "\n" not in message


def test_production_without_keys_refuses_to_start(tmp_path):
    settings = make_settings(tmp_path, environment="production")
    with pytest.raises(SystemExit, match="CASEWORK_ENCRYPTION_KEYS must be set"):
        Keyring.from_settings(settings)
    assert not dev_key_path(settings).exists()


def test_development_key_file_created_once_and_reused(tmp_path):
    settings = make_settings(tmp_path, environment="development")
    first = Keyring.from_settings(settings)
    path = dev_key_path(settings)
    assert path == tmp_path / "var" / "dev-encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = first.encrypt(SECRET, context="ctx")
    second = Keyring.from_settings(settings)
    assert second.decrypt(blob, context="ctx") == SECRET


# -- the payload codec ----------------------------------------------------------------------------


async def test_codec_round_trip_through_pydantic_converter():
    codec = EncryptionCodec(Keyring([("k1", OLD_KEY)]))
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    payloads = await converter.encode([CHILD, "Hartley"])
    assert len(payloads) == 2
    for payload in payloads:
        assert payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert payload.metadata[KEY_ID_METADATA] == b"k1"
        raw = payload.SerializeToString()
        for fragment in (b"Amelia", b"Hartley", b"2014-03-09", b"fatigue", b"json/plain"):
            assert fragment not in raw
    decoded = await converter.decode(payloads, [Child, str])
    assert decoded == [CHILD, "Hartley"]


async def test_codec_rotation_and_passthrough():
    old = EncryptionCodec(Keyring([("k1", OLD_KEY)]))
    new = EncryptionCodec(Keyring([("k2", NEW_KEY), ("k1", OLD_KEY)]))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"not secret"')
    encoded_old = await old.encode([plain])
    encoded_new = await new.encode([plain])
    assert encoded_new[0].metadata[KEY_ID_METADATA] == b"k2"
    assert await new.decode([*encoded_old, *encoded_new, plain]) == [plain, plain, plain]
    with pytest.raises(UnknownKeyError, match="k2"):
        await old.decode(encoded_new)


async def test_codec_from_settings_is_always_on(tmp_path):
    codec = codec_from_settings(make_settings(tmp_path, environment="development"))
    [encoded] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    assert encoded.metadata["encoding"] == ENCRYPTED_ENCODING
