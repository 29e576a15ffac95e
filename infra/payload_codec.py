"""The Temporal payload codec: every payload the service sends to Temporal (workflow inputs,
results, signals, updates, queries, activity inputs, memos) is encrypted with AES-256-GCM before
it leaves the process, so the cluster, its database backups and its UI see only ciphertext.

Each encrypted payload carries `encoding: binary/encrypted` and `encryption-key-id: <id>` metadata.
Payloads without that encoding pass through `decode` untouched (e.g. histories written before
encryption was switched on). Use the same codec in every client: API, worker, CLI tools and tests
(`infra.temporal_client.build_data_converter`) and in the codec server (`api.codec_routes`).

Note: failure messages and stack traces are only encoded by the codec when the data converter uses
`temporalio.converter.DefaultFailureConverterWithEncodedAttributes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from infra.encryption import Keyring

if TYPE_CHECKING:
    from infra.settings import Settings

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
PAYLOAD_CONTEXT = "temporal-payload"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        super().__init__()
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_now(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_now(payloads)

    def encode_now(self, payloads: Sequence[Payload]) -> list[Payload]:
        """`encode` without the coroutine, for a caller that runs it in a worker thread."""
        key_id = self.keyring.active_key_id.encode("ascii")
        return [
            Payload(
                metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
                data=self.keyring.encrypt(p.SerializeToString(), context=PAYLOAD_CONTEXT),
            )
            for p in payloads
        ]

    def decode_now(self, payloads: Sequence[Payload]) -> list[Payload]:
        """`decode` without the coroutine, for a caller that runs it in a worker thread."""
        decoded: list[Payload] = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCRYPTED_ENCODING:
                decoded.append(p)
                continue
            # The key id inside the blob is authenticated-by-use; the metadata copy is for people.
            decoded.append(Payload.FromString(self.keyring.decrypt(p.data, context=PAYLOAD_CONTEXT)))
        return decoded


def codec_from_settings(settings: Settings) -> EncryptionCodec:
    """The codec for this deployment. Encryption is always on: without configured keys a
    development key is used (refused in production, see `Keyring.from_settings`)."""
    return EncryptionCodec(Keyring.from_settings(settings))
