"""The Temporal payload codec: every payload the service sends to Temporal (workflow inputs,
results, signals, updates, queries, activity inputs, memos) is encrypted with AES-256-GCM before
it leaves the process, so the cluster, its database backups and its UI see only ciphertext.

Each encrypted payload carries `encoding: binary/encrypted` and `encryption-key-id: <id>` metadata.
Payloads without that encoding pass through `decode` untouched (e.g. histories written before
encryption was switched on). Use the same codec in every client: API, worker, CLI tools and tests
(`infra.temporal_client.build_data_converter`) and in the codec server (`api.codec_routes`).

Note: failure messages and stack traces are only encoded by the codec when the data converter uses
`temporalio.converter.DefaultFailureConverterWithEncodedAttributes`.

Each payload a case's workflow (or its activities) sends is sealed with the case's reference
inside the ciphertext (the SDK gives the codec the workflow id through its serialization context),
so the codec server knows, unforgeably, whose data a decode reveals and records that read
(`decode_for_cases`). The reference is removed again on decode: what the SDK sees is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from domain.case_commands import CASE_REF_PATTERN
from infra.encryption import Keyring

if TYPE_CHECKING:
    from infra.settings import Settings

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
PAYLOAD_CONTEXT = "temporal-payload"
#: Inside the ciphertext only: the case whose workflow the payload belongs to.
CASE_REF_METADATA = "casework-case-ref"
_CASE_REF = re.compile(CASE_REF_PATTERN)


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: Keyring, case_ref: str | None = None) -> None:
        super().__init__()
        self.keyring = keyring
        self.case_ref = case_ref

    def with_context(self, context: SerializationContext) -> Self:
        """The codec for one workflow's payloads: those of a case carry its reference."""
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        case_ref = workflow_id if workflow_id and _CASE_REF.match(workflow_id) else None
        return self if case_ref == self.case_ref else type(self)(self.keyring, case_ref)

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
                data=self.keyring.encrypt(self._sealed(p).SerializeToString(), context=PAYLOAD_CONTEXT),
            )
            for p in payloads
        ]

    def _sealed(self, payload: Payload) -> Payload:
        if self.case_ref is None:
            return payload
        sealed = Payload()
        sealed.CopyFrom(payload)
        sealed.metadata[CASE_REF_METADATA] = self.case_ref.encode("ascii")
        return sealed

    def decode_now(self, payloads: Sequence[Payload]) -> list[Payload]:
        """`decode` without the coroutine, for a caller that runs it in a worker thread."""
        return self.decode_for_cases(payloads)[0]

    def decode_for_cases(self, payloads: Sequence[Payload]) -> tuple[list[Payload], set[str]]:
        """The decoded payloads, and the cases whose data they hold (as sealed when encoded)."""
        decoded: list[Payload] = []
        cases: set[str] = set()
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCRYPTED_ENCODING:
                decoded.append(p)
                continue
            # The key id inside the blob is authenticated-by-use; the metadata copy is for people.
            inner = Payload.FromString(self.keyring.decrypt(p.data, context=PAYLOAD_CONTEXT))
            if CASE_REF_METADATA in inner.metadata:
                cases.add(inner.metadata[CASE_REF_METADATA].decode("ascii", "replace"))
                del inner.metadata[CASE_REF_METADATA]
            decoded.append(inner)
        return decoded, cases


def codec_from_settings(settings: Settings) -> EncryptionCodec:
    """The codec for this deployment. Encryption is always on: without configured keys a
    development key is used (refused in production, see `Keyring.from_settings`)."""
    return EncryptionCodec(Keyring.from_settings(settings))
