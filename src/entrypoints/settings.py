"""Settings from environment variables, validated once at start with clear messages.

Every variable is documented in README.md ("Configuration"). :func:`load_settings` collects every
problem before it fails, so an operator fixes them in one go.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from attrs import field, frozen

T = TypeVar("T")

PROVIDERS = ("local", "fake", "mux", "cloudflare")
EMBEDDED_PROVIDERS = ("local", "fake")
"""Providers whose platform is this machine: development tokens and secrets are generated."""
METRICS_MODES = ("off", "open", "token")
LOG_FORMATS = ("json", "text", "auto")


class SettingsError(Exception):
    """One or more environment variables are missing or invalid; the message lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@frozen
class MuxSettings:
    """Mux Video credentials and options (``MUX_*``)."""

    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)
    webhook_secrets: tuple[str, ...] = field(repr=False)
    signing_key_id: str | None = None
    signing_private_key: str | None = field(default=None, repr=False)
    cors_origin: str = "*"
    base_url: str = "https://api.mux.com"
    upload_timeout_seconds: int = 3600
    test_mode: bool = False


@frozen
class CloudflareSettings:
    """Cloudflare Stream credentials and options (``CLOUDFLARE_*``)."""

    account_id: str
    api_token: str = field(repr=False)
    webhook_secrets: tuple[str, ...] = field(repr=False)
    """Any of these signs a delivery (several while rotating the subscription's secret)."""
    customer_subdomain: str | None = None
    """``customer-<code>.cloudflarestream.com``: where playback and thumbnail URLs live."""
    signing_key_id: str | None = None
    signing_key_pem: str | None = field(default=None, repr=False)
    base_url: str = "https://api.cloudflare.com/client/v4"
    allowed_origins: tuple[str, ...] = ()
    max_duration_seconds: int = 3600
    upload_expiry_seconds: int = 3600
    basic_upload_limit: int = 200 * 1000 * 1000


X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
"""x264's presets, fastest first: each slower one spends more CPU for fewer bits at one quality."""


@frozen
class LocalSettings:
    """The self-hosted ``local`` provider (``LOCAL_*``): workers, ladder, storage, playback."""

    workers: int = 1
    """Job processes of ``media-core worker``, and of ``serve``'s embedded worker."""
    embedded_worker: bool = True
    """``serve`` runs ``workers`` processes itself; off when workers run elsewhere."""
    encoder_threads: int = 0
    """Threads of the decoder and of each encoder per job (0: FFmpeg's choice)."""
    x264_preset: str = "veryfast"
    """The x264 preset of every rendition (one of :data:`X264_PRESETS`)."""
    ladder: tuple[int, ...] = (240, 360, 480, 720, 1080)
    """Rendition heights; never above the source's."""
    segment_seconds: float = 4.0
    job_lease_seconds: float = 60.0
    """How long a job stays a silent worker's before another takes it (renewed every third)."""
    job_max_attempts: int = 3
    storage_dir: Path | None = None
    """Where media is stored; None: ``<data_dir>/media``."""
    playback_ttl_seconds: int = 6 * 3600
    """How long a PRIVATE video's signed playback URLs stay valid."""
    tus_threshold_bytes: int | None = 64 * 1024 * 1024
    """Files of at least this size upload over tus (resumable); None: never."""
    upload_chunk_bytes: int = 8 * 1024 * 1024


@frozen
class Settings:
    """Everything the service reads from its environment."""

    providers: tuple[str, ...] = ("local",)
    """The configured providers in order (``MEDIA_PROVIDERS``); the first is the default."""
    data_dir: Path = Path(".media-core")
    database_url: str | None = None
    """None means the embedded SQLite file in ``data_dir``."""
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """The URL clients and providers reach this service at; defaults to http://host:port."""
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = field(default=None, repr=False)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    """Secrets of the normalized route (``/webhook/upload-complete``); generated for the fake."""
    webhook_tolerance_seconds: int = 300
    max_upload_bytes: int = 5 * 1024**3
    max_body_bytes: int = 64 * 1024
    max_webhook_body_bytes: int = 1024 * 1024
    create_rate_per_minute: int = 30
    create_rate_burst: int = 10
    rate_limit_fail_open: bool = True
    """With Redis down: admit (True) or refuse (False) rate-limited requests."""
    rate_limit_key_prefix: str = "media-core:rl:"
    """Prefix of the rate limiters' Redis keys (deployments sharing one Redis differ here)."""
    webhook_rate_per_minute: int = 6000
    """Webhook deliveries admitted per source address per minute (a minute's worth at once)."""
    reconcile_interval_seconds: float = 60.0
    """Seconds between the reconciler's passes inside ``serve``; 0 turns the loop off."""
    reconcile_pending_after_seconds: int = 300
    reconcile_uploading_after_seconds: int = 3600
    reconcile_processing_after_seconds: int = 900
    reconcile_lease_seconds: int = 300
    reconcile_batch_size: int = 100
    provider_breaker_failures: int = 5
    """Consecutive failed provider calls that open the circuit."""
    provider_breaker_reset_seconds: float = 30.0
    """How long an open circuit refuses calls before one probe goes through."""
    fake_processing_delay_seconds: float = 0.5
    fake_tus_threshold_bytes: int | None = None
    """Files of at least this size upload to the fake over tus (like Cloudflare); None: never."""
    fake_upload_chunk_bytes: int = 8 * 1024 * 1024
    """The chunk size the fake advises clients to upload in."""
    log_level: str = "INFO"
    log_format: str = "auto"
    """``json``, ``text``, or ``auto`` (text on a terminal, JSON otherwise)."""
    metrics_mode: str = "off"
    """``/metrics``: ``off`` (not mounted), ``open``, or ``token`` (bearer ``metrics_token``)."""
    metrics_token: str | None = field(default=None, repr=False)
    metrics_storage_ttl_seconds: float = 15.0
    """How long storage figures are cached between scrapes."""
    quota_max_bytes: int = 0
    """Bytes a user's uploads that did not fail may add up to (as stored where the provider
    says, else declared); 0 is unlimited."""
    quota_max_uploads: int = 0
    """How many uploads that did not fail a user may have; 0 is unlimited."""
    sentry_dsn: str | None = field(default=None, repr=False)
    sentry_environment: str | None = None
    mux: MuxSettings | None = None
    cloudflare: CloudflareSettings | None = None
    local: LocalSettings = LocalSettings()

    @property
    def embedded(self) -> bool:
        """True when every provider's platform is this machine (``local``, ``fake``): secrets
        and development tokens are then generated in the data directory."""
        return all(name in EMBEDDED_PROVIDERS for name in self.providers)

    @property
    def hosts_media(self) -> bool:
        """True when some provider's platform is this machine: the normalized webhook route
        then has a generated secret, which that provider signs with."""
        return any(name in EMBEDDED_PROVIDERS for name in self.providers)

    @property
    def local_storage_dir(self) -> Path:
        """Where the local provider stores media."""
        return self.local.storage_dir or self.data_dir / "media"

    @property
    def provider(self) -> str:
        """The default provider of new uploads: the first of :attr:`providers`."""
        return self.providers[0]

    @property
    def base_url(self) -> str:
        """The public base URL, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def effective_database_url(self) -> str:
        """``database_url``, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'media.db').resolve()}"


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str, why: str) -> str:
        value = self.text(name)
        if value is None:
            self.problems.append(f"{name} is required {why}")
            return ""
        return value

    def number(self, name: str, default: T, kind: Callable[[str], T], minimum: float = 0) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number, got {raw!r}")
            return default
        if value < minimum:  # type: ignore[operator]
            self.problems.append(f"{name} must be at least {minimum}, got {raw}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name} must be true or false, got {raw!r}")
        return default

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.text(name)
        return tuple(item.strip() for item in raw.split(",") if item.strip()) if raw else ()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``env`` (default ``os.environ``)."""
    read = _Reader(os.environ if env is None else env)
    providers = _providers(read)
    real = [name for name in providers if name not in EMBEDDED_PROVIDERS]
    database_url = read.text("DATABASE_URL")
    if database_url is not None:
        database_url = _async_database_url(database_url, read.problems)
    jwt_secret = read.text("AUTH_JWT_SECRET")
    jwt_public_key = _pem(read.text("AUTH_JWT_PUBLIC_KEY"))
    if jwt_secret and jwt_public_key:
        read.problems.append("set AUTH_JWT_SECRET (HS256) or AUTH_JWT_PUBLIC_KEY (RS256), not both")
    if real and not (jwt_secret or jwt_public_key):
        read.problems.append(
            f"AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required with {', '.join(real)} "
            "(development tokens exist only with the local and fake providers)"
        )
    if jwt_secret is not None and len(jwt_secret) < 32:
        read.problems.append("AUTH_JWT_SECRET must be at least 32 characters")
    # Open by default only on the embedded default (a laptop); a real deployment opts in.
    metrics_mode = _choice(read, "METRICS_MODE", METRICS_MODES, "off" if real else "open")
    metrics_token = read.text("METRICS_TOKEN")
    if metrics_mode == "token" and (metrics_token is None or len(metrics_token) < 16):
        read.problems.append(
            "METRICS_TOKEN of at least 16 characters is required with METRICS_MODE=token"
        )
    settings = Settings(
        providers=providers,
        data_dir=Path(read.text("MEDIA_DATA_DIR", ".media-core") or ".media-core"),
        database_url=database_url,
        redis_url=read.text("REDIS_URL"),
        host=read.text("MEDIA_HOST", "127.0.0.1") or "127.0.0.1",
        port=read.number("MEDIA_PORT", 8080, int, minimum=0),
        public_url=read.text("MEDIA_PUBLIC_URL"),
        jwt_secret=jwt_secret,
        jwt_public_key=jwt_public_key,
        jwt_audience=read.text("AUTH_JWT_AUDIENCE"),
        jwt_issuer=read.text("AUTH_JWT_ISSUER"),
        webhook_secrets=read.csv("MEDIA_WEBHOOK_SECRETS"),
        webhook_tolerance_seconds=read.number("WEBHOOK_TOLERANCE_SECONDS", 300, int, minimum=1),
        max_upload_bytes=read.number("MEDIA_MAX_UPLOAD_BYTES", 5 * 1024**3, int, minimum=1),
        max_body_bytes=read.number("MEDIA_MAX_BODY_BYTES", 64 * 1024, int, minimum=1024),
        max_webhook_body_bytes=read.number(
            "MEDIA_MAX_WEBHOOK_BODY_BYTES", 1024 * 1024, int, minimum=1024
        ),
        create_rate_per_minute=read.number("RATE_LIMIT_CREATE_PER_MINUTE", 30, int, minimum=1),
        create_rate_burst=read.number("RATE_LIMIT_CREATE_BURST", 10, int, minimum=1),
        rate_limit_fail_open=read.flag("RATE_LIMIT_FAIL_OPEN", True),
        rate_limit_key_prefix=read.text("RATE_LIMIT_KEY_PREFIX", "media-core:rl:")
        or "media-core:rl:",
        webhook_rate_per_minute=read.number("RATE_LIMIT_WEBHOOK_PER_MINUTE", 6000, int, minimum=1),
        reconcile_interval_seconds=read.number(
            "RECONCILE_INTERVAL_SECONDS", 60.0, float, minimum=0
        ),
        reconcile_pending_after_seconds=read.number(
            "RECONCILE_PENDING_AFTER_SECONDS", 300, int, minimum=0
        ),
        reconcile_uploading_after_seconds=read.number(
            "RECONCILE_UPLOADING_AFTER_SECONDS", 3600, int, minimum=0
        ),
        reconcile_processing_after_seconds=read.number(
            "RECONCILE_PROCESSING_AFTER_SECONDS", 900, int, minimum=0
        ),
        reconcile_lease_seconds=read.number("RECONCILE_LEASE_SECONDS", 300, int, minimum=1),
        reconcile_batch_size=read.number("RECONCILE_BATCH_SIZE", 100, int, minimum=1),
        provider_breaker_failures=read.number("PROVIDER_BREAKER_FAILURES", 5, int, minimum=1),
        provider_breaker_reset_seconds=read.number(
            "PROVIDER_BREAKER_RESET_SECONDS", 30.0, float, minimum=1
        ),
        fake_processing_delay_seconds=read.number(
            "FAKE_PROCESSING_DELAY_SECONDS", 0.5, float, minimum=0
        ),
        fake_tus_threshold_bytes=read.number("FAKE_TUS_THRESHOLD_BYTES", None, int, minimum=0),
        fake_upload_chunk_bytes=read.number(
            "FAKE_UPLOAD_CHUNK_BYTES", 8 * 1024 * 1024, int, minimum=1024
        ),
        log_level=(read.text("LOG_LEVEL", "INFO") or "INFO").upper(),
        log_format=_choice(read, "LOG_FORMAT", LOG_FORMATS, "auto"),
        metrics_mode=metrics_mode,
        metrics_token=metrics_token,
        metrics_storage_ttl_seconds=read.number(
            "METRICS_STORAGE_TTL_SECONDS", 15.0, float, minimum=0
        ),
        quota_max_bytes=read.number("QUOTA_MAX_BYTES", 0, int, minimum=0),
        quota_max_uploads=read.number("QUOTA_MAX_UPLOADS", 0, int, minimum=0),
        sentry_dsn=read.text("SENTRY_DSN"),
        sentry_environment=read.text("SENTRY_ENVIRONMENT"),
        mux=_mux(read) if "mux" in providers else None,
        cloudflare=_cloudflare(read) if "cloudflare" in providers else None,
        local=_local(read) if "local" in providers else LocalSettings(),
    )
    if "local" in providers and database_url == "memory://":
        read.problems.append(
            "MEDIA_PROVIDER=local keeps its jobs in the database: DATABASE_URL cannot be memory://"
        )
    if read.problems:
        raise SettingsError(read.problems)
    return settings


def _providers(read: _Reader) -> tuple[str, ...]:
    """``MEDIA_PROVIDERS`` (ordered, the first is the default) or the one ``MEDIA_PROVIDER``."""
    several = tuple(name.lower() for name in read.csv("MEDIA_PROVIDERS"))
    one = read.text("MEDIA_PROVIDER")
    if several and one is not None:
        read.problems.append(
            "set MEDIA_PROVIDERS (several, the first is the default) or MEDIA_PROVIDER (one), "
            "not both"
        )
    variable = "MEDIA_PROVIDERS" if several else "MEDIA_PROVIDER"
    names = several or ((one or "local").lower(),)
    unknown = [name for name in names if name not in PROVIDERS]
    if unknown:
        read.problems.append(
            f"{variable} must name providers among {', '.join(PROVIDERS)}; "
            f"unknown: {', '.join(repr(name) for name in unknown)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        read.problems.append(f"{variable} lists {', '.join(repeated)} more than once")
    if all(name in names for name in EMBEDDED_PROVIDERS):
        # Both report through the one normalized webhook route, which acts for one provider.
        read.problems.append(f"{variable} may list local or fake, not both")
    known = tuple(dict.fromkeys(name for name in names if name in PROVIDERS))
    return known or ("local",)


def _mux(read: _Reader) -> MuxSettings:
    why = "with the mux provider"
    secrets = read.csv("MUX_WEBHOOK_SECRETS") or read.csv("MUX_WEBHOOK_SECRET")
    if not secrets:
        read.problems.append(
            f"MUX_WEBHOOK_SECRETS is required {why} (comma-separated for rotation)"
        )
    key_id = read.text("MUX_SIGNING_KEY_ID")
    private_key = _pem(read.text("MUX_SIGNING_PRIVATE_KEY"))
    if bool(key_id) != bool(private_key):
        read.problems.append("MUX_SIGNING_KEY_ID and MUX_SIGNING_PRIVATE_KEY go together")
    return MuxSettings(
        token_id=read.required("MUX_TOKEN_ID", why),
        token_secret=read.required("MUX_TOKEN_SECRET", why),
        webhook_secrets=secrets,
        signing_key_id=key_id,
        signing_private_key=private_key,
        cors_origin=read.text("MUX_CORS_ORIGIN", "*") or "*",
        base_url=read.text("MUX_BASE_URL", "https://api.mux.com") or "https://api.mux.com",
        upload_timeout_seconds=read.number("MUX_UPLOAD_TIMEOUT_SECONDS", 3600, int, minimum=60),
        test_mode=read.flag("MUX_TEST_MODE", False),
    )


def _cloudflare(read: _Reader) -> CloudflareSettings:
    why = "with the cloudflare provider"
    single = read.text("CLOUDFLARE_WEBHOOK_SECRET")  # the name of one secret: taken whole
    secrets = read.csv("CLOUDFLARE_WEBHOOK_SECRETS") or ((single,) if single else ())
    if not secrets:
        read.problems.append(
            f"CLOUDFLARE_WEBHOOK_SECRETS is required {why} (comma-separated for rotation; "
            "CLOUDFLARE_WEBHOOK_SECRET, one secret, works too)"
        )
    key_id = read.text("CLOUDFLARE_SIGNING_KEY_ID")
    key_pem = _pem(read.text("CLOUDFLARE_SIGNING_KEY_PEM"))
    if bool(key_id) != bool(key_pem):
        read.problems.append("CLOUDFLARE_SIGNING_KEY_ID and CLOUDFLARE_SIGNING_KEY_PEM go together")
    return CloudflareSettings(
        account_id=read.required("CLOUDFLARE_ACCOUNT_ID", why),
        api_token=read.required("CLOUDFLARE_API_TOKEN", why),
        webhook_secrets=secrets,
        customer_subdomain=read.text("CLOUDFLARE_CUSTOMER_SUBDOMAIN"),
        signing_key_id=key_id,
        signing_key_pem=key_pem,
        base_url=read.text("CLOUDFLARE_BASE_URL", "https://api.cloudflare.com/client/v4")
        or "https://api.cloudflare.com/client/v4",
        allowed_origins=read.csv("CLOUDFLARE_ALLOWED_ORIGINS"),
        max_duration_seconds=read.number("CLOUDFLARE_MAX_DURATION_SECONDS", 3600, int, minimum=1),
        upload_expiry_seconds=read.number(
            "CLOUDFLARE_UPLOAD_EXPIRY_SECONDS", 3600, int, minimum=120
        ),
        basic_upload_limit=read.number(
            "CLOUDFLARE_BASIC_UPLOAD_LIMIT", 200 * 1000 * 1000, int, minimum=1
        ),
    )


def _local(read: _Reader) -> LocalSettings:
    ladder: list[int] = []
    for item in read.csv("LOCAL_LADDER") or ("240", "360", "480", "720", "1080"):
        if not item.isdigit() or not 16 <= int(item) <= 4320:
            read.problems.append(f"LOCAL_LADDER must list heights from 16 to 4320, got {item!r}")
        else:
            ladder.append(int(item))
    storage = read.text("LOCAL_STORAGE_DIR")
    return LocalSettings(
        workers=read.number("LOCAL_WORKERS", 1, int, minimum=1),
        embedded_worker=read.flag("LOCAL_EMBEDDED_WORKER", True),
        encoder_threads=read.number("LOCAL_ENCODER_THREADS", 0, int, minimum=0),
        x264_preset=_choice(read, "LOCAL_X264_PRESET", X264_PRESETS, "veryfast"),
        ladder=tuple(sorted(set(ladder))) or (240, 360, 480, 720, 1080),
        segment_seconds=read.number("LOCAL_SEGMENT_SECONDS", 4.0, float, minimum=1),
        job_lease_seconds=read.number("LOCAL_JOB_LEASE_SECONDS", 60.0, float, minimum=3),
        job_max_attempts=read.number("LOCAL_JOB_MAX_ATTEMPTS", 3, int, minimum=1),
        storage_dir=Path(storage) if storage else None,
        playback_ttl_seconds=read.number("LOCAL_PLAYBACK_TTL_SECONDS", 6 * 3600, int, minimum=60),
        tus_threshold_bytes=read.number(
            "LOCAL_TUS_THRESHOLD_BYTES", 64 * 1024 * 1024, int, minimum=0
        ),
        upload_chunk_bytes=read.number(
            "LOCAL_UPLOAD_CHUNK_BYTES", 8 * 1024 * 1024, int, minimum=1024
        ),
    )


def _choice(read: _Reader, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (read.text(name, default) or default).lower()
    if value not in allowed:
        read.problems.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return default
    return value


def _pem(value: str | None) -> str | None:
    """Accept PEM text with literal ``\\n`` (as env files often carry it)."""
    return value.replace("\\n", "\n") if value else value


def _async_database_url(url: str, problems: list[str]) -> str:
    """Map plain ``postgresql://`` and ``sqlite://`` URLs to their async drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://", "memory://")):
        return url
    problems.append("DATABASE_URL must be a postgresql://, sqlite:// or memory:// URL")
    return url
