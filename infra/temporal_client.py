"""The Temporal client the worker, the API and the CLI share: same data converter everywhere
(pydantic JSON and the payload encryption codec, always), and the same
connection options for the dev server, a self-hosted cluster (mTLS) or Temporal Cloud (API key)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from infra.payload_codec import codec_from_settings
from infra.settings import ConfigurationError

if TYPE_CHECKING:
    from infra.settings import Settings


class TemporalConnectionError(RuntimeError):
    """The Temporal server could not be reached; the message names the address."""


def build_data_converter(settings: Settings) -> DataConverter:
    """pydantic JSON payloads, encrypted with the service's keyring (a development key when
    `encryption_keys` is unset). Failure messages and stack traces are moved into the failure's
    encoded attributes, so the codec encrypts them too: an error naming a child or a diagnosis never
    reaches Temporal's history in the clear (the SDK decodes them again on every client)."""
    codec = codec_from_settings(settings)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS from the cert/key files; plain TLS for an API key (Temporal Cloud); else no TLS."""
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if (cert is None) != (key is None):
        missing = "CASEWORK_TEMPORAL_TLS_KEY" if key is None else "CASEWORK_TEMPORAL_TLS_CERT"
        raise ConfigurationError(f"configuration error: {missing}: TLS needs both client certificate and key")
    if cert is not None and key is not None:
        return TLSConfig(client_cert=cert.read_bytes(), client_private_key=key.read_bytes())
    return settings.temporal_api_key is not None


async def connect_client(settings: Settings) -> Client:
    """Connect to Temporal as configured; a failure raises TemporalConnectionError naming the address."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=build_data_converter(settings),
            tls=tls_config(settings),
            api_key=api_key,
        )
    except ConfigurationError:
        raise
    except Exception as exc:
        raise TemporalConnectionError(
            f"cannot connect to Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {exc}"
        ) from exc
