"""Builds the parts a command needs from the settings (the composition root's
helpers): the engine, the secret key, the site info and the mailer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from digest.config import ConfigError, Settings

# Imported where used: a command pays only for the parts it needs (cold start).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.http import Fetcher
    from digest.mail.base import Mailer
    from digest.render import SiteInfo


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        """An engine on a database whose schema is current (SchemaError otherwise)."""
        from digest.db.engine import open_engine, require_current

        engine = open_engine(self.settings.database_url)
        require_current(engine)
        return engine

    @cached_property
    def secret(self) -> str:
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value()
        from digest.store.meta import ensure_secret_key

        return ensure_secret_key(self.engine)

    @cached_property
    def site(self) -> SiteInfo:
        return site_info(self.settings)

    def mailer(self) -> Mailer:
        return make_mailer(self.settings)

    def fetcher(self) -> Fetcher:
        from digest.http import Fetcher, user_agent_for

        return Fetcher(user_agent=user_agent_for(self.settings.contact))


def site_info(settings: Settings) -> SiteInfo:
    from digest.render import SiteInfo

    return SiteInfo(
        base_url=settings.base_url,
        sender=settings.sender,
        postal_address=settings.postal_address,
    )


def make_mailer(settings: Settings) -> Mailer:
    if settings.mailer == "outbox":
        from digest.mail.outbox import OutboxMailer

        return OutboxMailer(settings.outbox_dir, settings.sender)
    if settings.mailer == "console":
        from digest.mail.console import ConsoleMailer

        return ConsoleMailer(settings.sender)
    if settings.mailer == "sendgrid":
        return _sendgrid_mailer(settings)
    if settings.mailer == "smtp":
        return _smtp_mailer(settings)
    raise ConfigError(f"DIGEST_MAILER: unknown mailer {settings.mailer!r}")


def _sendgrid_mailer(settings: Settings) -> Mailer:
    from digest.mail.sendgrid import SendGridMailer

    key = settings.sendgrid_api_key.get_secret_value() if settings.sendgrid_api_key else ""
    if not key.strip():
        raise ConfigError(
            "SENDGRID_API_KEY: required when DIGEST_MAILER is sendgrid "
            "(an API key with the Mail Send permission, or SENDGRID_API_KEY_FILE)"
        )
    return SendGridMailer(key.strip(), settings.sender, host=settings.sendgrid_host)


def _smtp_mailer(settings: Settings) -> Mailer:
    from digest.mail.smtp import SmtpMailer, parse_smtp_url

    if settings.smtp_url is None:
        raise ConfigError(
            "DIGEST_SMTP_URL: required when DIGEST_MAILER is smtp, "
            "e.g. smtp://user:password@mail.example.org:587 (or DIGEST_SMTP_URL_FILE)"
        )
    ca_file = settings.smtp_ca_file
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"DIGEST_SMTP_CA_FILE: {ca_file} is not a file")
    try:
        config = parse_smtp_url(settings.smtp_url.get_secret_value(), str(ca_file or "") or None)
    except ValueError as exc:
        raise ConfigError(f"DIGEST_SMTP_URL: {exc}") from None
    try:
        return SmtpMailer(config, settings.sender)
    except OSError as exc:  # ssl: an unreadable or invalid CA file
        raise ConfigError(f"DIGEST_SMTP_CA_FILE: cannot load {ca_file}: {exc}") from None
