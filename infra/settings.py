"""The service's one settings object, read from environment variables (prefix `CASEWORK_`,
nested with `__`, e.g. `CASEWORK_CLOCKS__ABSENCE_THRESHOLD_DAYS=10`) and an optional `.env` file."""

from functools import lru_cache
from pathlib import Path

from pydantic import EmailStr, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.people import Officer
from domain.recoupment import RecoupmentRates
from domain.statutory_clocks import ClockSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CASEWORK_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    environment: str = Field("development", pattern="^(development|production|test)$")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: str = Field("console", pattern="^(console|json)$")

    # Temporal: the same worker runs on the dev server, a self-hosted cluster or Temporal Cloud.
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "casework"
    temporal_tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mTLS")
    temporal_tls_key: Path | None = Field(None, description="Client private key (PEM) for mTLS")
    temporal_api_key: SecretStr | None = Field(None, description="API key, e.g. for Temporal Cloud")

    # Read model (SQLite by default; PostgreSQL in production).
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'casework.db'}"

    # Email: SMTP when a host is set, else a local outbox folder a person can read.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: EmailStr = "inclusion-service@council.example.gov.uk"
    outbox_dir: Path = PROJECT_ROOT / "var" / "outbox"
    officer_mail_domain: str = "council.example.gov.uk"
    supervisor_mailbox: EmailStr = "inclusion-supervisors@council.example.gov.uk"
    school_mailbox_template: str = Field("office.{urn}@schools.example.org", description="{urn} is replaced")
    officers: dict[str, Officer] = Field(
        default_factory=dict,
        description="The officer directory: each officer's login name to their name and contact details, as "
        'families and schools are told them (JSON, e.g. `{"officer-jb": {"name": "Jo Bloggs", "email": '
        '"jo.bloggs@council.example.gov.uk", "phone": "0116 305 0000"}}`); an officer not listed is named '
        "by login at `<login>@officer_mail_domain`",
    )
    complaints_route: str = Field(
        "the council's complaints procedure: www.council.example.gov.uk/complaints, or write to the "
        "Complaints Team, County Hall",
        min_length=1,
        max_length=500,
        description="How to challenge a decision, as the decision letter gives it (the Local Government and "
        "Social Care Ombudsman follows it in the letter)",
    )

    # Documents.
    document_dir: Path = PROJECT_ROOT / "var" / "documents"
    max_document_bytes: int = Field(10 * 1024 * 1024, ge=1024)

    # The rules of the service.
    school_calendar_file: Path | None = Field(None, description="Term dates TOML; none = the shipped file")
    school_calendars_dir: Path | None = Field(
        None, description="Folder of per-school term dates, `<URN>.toml` in the same format, for schools that "
        "set their own (academies, VA and foundation schools, out-of-area schools); a school without a file, and "
        "any year its file does not list, follow the council's dates")
    clocks: ClockSettings = ClockSettings()
    recoupment: RecoupmentRates = RecoupmentRates()

    # API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    ui_origin: str = "http://localhost:8233"
    public_url: str = Field("http://localhost:8000", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    forwarded_allow_ips: str = "127.0.0.1"
    request_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    request_body_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    failed_auth_limit_per_minute: int = Field(20, ge=1, le=10_000)
    max_codec_payloads: int = Field(2000, ge=1, le=100_000)

    # Signing in to the pages (pages/sign_in_routes.py).
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_hours: int = Field(10, ge=1, le=24 * 7)
    sign_in_failures_before_lockout: int = Field(5, ge=1, le=1000)
    sign_in_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # Staff sign-in through the council's OpenID Connect provider (pages/oidc_routes.py); unset = off.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_provider_name: str = "your council account"
    oidc_roles_claim: str = "roles"
    oidc_schools_claim: str = "school_urns"

    # Retention: a closed case is erased once the child reaches this age (the daily retention sweep).
    retention_years_after_birth: int = Field(
        25,
        ge=1,
        le=100,
        description="A closed case is erased the day after the child's birthday at this age (daily retention sweep)",
    )

    # Payload and document encryption: "key-id:base64-32-bytes" pairs, comma separated; the first encrypts.
    encryption_keys: SecretStr | None = None

    @field_validator("temporal_tls_cert", "temporal_tls_key", "school_calendar_file")
    @classmethod
    def _file_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"file not found: {v}")
        return v

    def own_calendar_file(self, school_urn: str) -> Path | None:
        """The term-dates file of a school that sets its own (`<URN>.toml` in `school_calendars_dir`),
        or None when it follows the council's."""
        if self.school_calendars_dir is None or not school_urn.isdigit():
            return None
        own = self.school_calendars_dir / f"{school_urn}.toml"
        return own if own.is_file() else None

    @field_validator("school_calendars_dir")
    @classmethod
    def _folder_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_dir():
            raise ValueError(f"folder not found: {v}")
        return v


class ConfigurationError(SystemExit):
    """Raised at start with one clear line naming the bad setting, instead of a traceback."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CASEWORK_" + "__".join(str(p).upper() for p in first["loc"])
        raise ConfigurationError(f"configuration error: {name}: {first['msg']}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
