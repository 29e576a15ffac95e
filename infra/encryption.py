"""AES-256-GCM encryption with a keyring of named keys, for workflow payloads, documents and the
personal fields of the read model.

Keys come from `CASEWORK_ENCRYPTION_KEYS` as `key-id:base64-32-bytes` pairs, comma separated.
The **first** key encrypts; **every** listed key decrypts, so a key is rotated without downtime:

1. put a new key first (`python -m infra.encryption new-key 2025-09`), keep the old ones after it;
2. restart API and workers: new data is encrypted with the new key, old data still decrypts;
3. remove an old key only once nothing encrypted with it remains (histories and documents past
   retention are erased; anything else must be re-encrypted first).

Keyed hashes (`keyed_hash`, e.g. the child de-duplication key in the read model) must stay stable
across rotations, so they use a key derived (HKDF-SHA256, separate purpose label) from the
**last-listed key, the oldest**. Rotation appends new keys at the front, so the hashing key never
changes; keep the oldest key listed (removing it changes every keyed hash).

Blob format (version 1)::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | nonce (12 bytes) | ciphertext + GCM tag

The caller's `context` (e.g. a document reference) is bound as associated data, so a blob copied
to another place does not decrypt there.

Without configured keys, development and test use a key file `var/dev-encryption.key` (created on
first use, with a warning); production refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from infra.settings import ConfigurationError

if TYPE_CHECKING:
    from infra.settings import Settings

log = structlog.get_logger(__name__)

FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEY_FILENAME = "dev-encryption.key"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_AAD_PREFIX = b"casework/v1|"
_HASH_KEY_INFO = b"casework keyed-hash v1"
_SEARCH_KEY_INFO = b"casework search index v1"


class EncryptionError(Exception):
    """A blob could not be decrypted. The message never contains any of the data."""


class UnknownKeyError(EncryptionError):
    """The blob names a key id that is not in the keyring."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"encryption key {key_id!r} is not configured; add it to CASEWORK_ENCRYPTION_KEYS to decrypt"
        )


def generate_key_spec(key_id: str) -> str:
    """A fresh `key-id:base64` pair to put first in `CASEWORK_ENCRYPTION_KEYS`."""
    _check_key_id(key_id)
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """Parse `id:base64,id:base64`. Errors name the position or key id, never key material."""
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate((part.strip() for part in spec.split(",")), start=1):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise ValueError(f"entry {position} is not 'key-id:base64-key' (key id: letters, digits, . _ -)")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise ValueError(f"key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes (got {len(key)})")
        if any(existing == key_id for existing, _ in keys):
            raise ValueError(f"key id {key_id!r} is listed twice")
        keys.append((key_id, key))
    if not keys:
        raise ValueError("no keys listed")
    return keys


def _check_key_id(key_id: str) -> None:
    if not KEY_ID_PATTERN.match(key_id):
        raise ValueError("key id must be 1-64 characters: letters, digits, '.', '_' or '-'")


class Keyring:
    """Named AES-256 keys; the first encrypts, all decrypt."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes")
            if key_id in self._ciphers:
                raise ValueError(f"key id {key_id!r} is listed twice")
            self._ciphers[key_id] = AESGCM(key)
        self._active_key_id = keys[0][0]
        self._hash_key_id, oldest = keys[-1]
        self._hash_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HASH_KEY_INFO).derive(
            oldest
        )
        self._search_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEARCH_KEY_INFO).derive(
            oldest
        )

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: str) -> Keyring:
        return cls(parse_key_spec(spec))

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """Keys from `settings.encryption_keys`; without them, a development key file (not in
        production, where missing keys stop the service with one clear line)."""
        if settings.encryption_keys is not None and settings.encryption_keys.get_secret_value().strip():
            try:
                return cls.from_spec(settings.encryption_keys.get_secret_value())
            except ValueError as exc:
                raise ConfigurationError(f"configuration error: CASEWORK_ENCRYPTION_KEYS: {exc}") from None
        if settings.environment == "production":
            raise ConfigurationError(
                "configuration error: CASEWORK_ENCRYPTION_KEYS must be set in production "
                "(generate one with: python -m infra.encryption new-key <key-id>)"
            )
        path = dev_key_path(settings)
        try:
            return cls.from_spec(_load_or_create_dev_key(path))
        except ValueError as exc:
            raise ConfigurationError(f"configuration error: development key file {path}: {exc}") from None

    # -- properties ---------------------------------------------------------------------------

    @property
    def active_key_id(self) -> str:
        return self._active_key_id

    @property
    def hash_key_id(self) -> str:
        """The key the keyed hashes derive from: the last-listed (oldest) key."""
        return self._hash_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    # -- operations ---------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes:
        key_id = self._active_key_id.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self._active_key_id].encrypt(nonce, plaintext, _aad(context))
        return bytes([FORMAT_VERSION, len(key_id)]) + key_id + nonce + ciphertext

    def decrypt(self, blob: bytes, *, context: str) -> bytes:
        key_id = self.key_id_of(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id)
        start = 2 + len(key_id)
        nonce = blob[start : start + NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, blob[start + NONCE_BYTES :], _aad(context))
        except InvalidTag:
            raise EncryptionError(
                f"decryption failed with key {key_id!r}: the data was altered or belongs to another context"
            ) from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The key id in a blob's header (raises EncryptionError if it is not our format)."""
        if len(blob) < 2 or blob[0] != FORMAT_VERSION:
            raise EncryptionError("not an encrypted blob of a known format version")
        length = blob[1]
        if length == 0 or len(blob) < 2 + length + NONCE_BYTES + 16:
            raise EncryptionError("encrypted blob is truncated")
        try:
            key_id = blob[2 : 2 + length].decode("ascii")
        except UnicodeDecodeError:
            raise EncryptionError("encrypted blob has a malformed key id") from None
        if not KEY_ID_PATTERN.match(key_id):
            raise EncryptionError("encrypted blob has a malformed key id")
        return key_id

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 (hex) of `value`, stable across key rotations (see module docstring).
        Normalise the value (case, whitespace) before calling if equal inputs may be spelt differently."""
        return hmac.new(self._hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def search_token(self, value: str) -> str:
        """HMAC-SHA256 (hex) of a normalised search term (the read model's blind index), under a key
        of its own derived from the same oldest key: a search token never equals any other keyed hash."""
        return hmac.new(self._search_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _aad(context: str) -> bytes:
    return _AAD_PREFIX + context.encode("utf-8")


def dev_key_path(settings: Settings) -> Path:
    """`var/dev-encryption.key`, beside the outbox folder (which lives in `var/`)."""
    return settings.outbox_dir.parent / DEV_KEY_FILENAME


def _load_or_create_dev_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = generate_key_spec("dev-1")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(spec + "\n")
    log.warning(
        "encryption_dev_key_in_use",
        path=str(path),
        hint="set CASEWORK_ENCRYPTION_KEYS for any real data; this key file is for development only",
    )
    spec = path.read_text(encoding="ascii").strip()
    if not spec:
        raise ConfigurationError(f"configuration error: development key file {path} is empty; delete it")
    return spec


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m infra.encryption new-key <key-id>` prints a new key spec."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "new-key":
        print("usage: python -m infra.encryption new-key <key-id>", file=sys.stderr)
        return 2
    try:
        print(generate_key_spec(args[1]))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
