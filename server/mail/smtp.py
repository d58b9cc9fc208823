"""Sending one message over SMTP with the ``[smtp]`` settings (plain, STARTTLS or implicit TLS; optional AUTH).

smtplib is synchronous and runs in a worker thread; one connection per message keeps failure handling simple
(a relay that died mid-queue fails one message, not a batch). Errors are sorted into the two kinds the worker
cares about: try again later (:class:`TemporaryFailure`) or never (:class:`PermanentFailure`: the relay
refused the recipient or the message with a 5xx reply, i.e. a bounce at submission time).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

from server.config import SmtpSettings

from .messages import Outgoing, Unbuildable, render


class MailFailure(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TemporaryFailure(MailFailure):
    """The relay is down, busy (4xx) or misconfigured: retry with backoff."""


class PermanentFailure(MailFailure):
    """The relay refused the recipient or the message for good (5xx): a bounce."""


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class SmtpSender:
    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        if ssl_context is None and settings.security != "none":
            ssl_context = ssl.create_default_context(cafile=settings.ca_file or None)
        self.ssl_context = ssl_context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self.ssl_context)
        conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            conn.ehlo()
            conn.starttls(context=self.ssl_context)
            conn.ehlo()
        return conn

    @contextlib.contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """A connected, logged-in SMTP session, closed politely afterwards.

        A refused connection is a :class:`TemporaryFailure`; errors inside the block are the caller's.
        """
        try:
            conn = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"почтовый сервер недоступен: {type(exc).__name__}: {exc}") from None
        try:
            if self.settings.username:
                conn.login(self.settings.username, self.settings.password)
            yield conn
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()

    def probe(self) -> str:
        """Connect (and log in) without sending, for `klikdok doctor`; returns what was checked."""
        try:
            with self._session() as conn:
                conn.noop()
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentFailure(
                f"почтовый сервер не принял логин и пароль ({exc.smtp_code})", exc.smtp_code
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"ошибка соединения: {type(exc).__name__}: {exc}") from None
        how = {"none": "без шифрования", "starttls": "STARTTLS", "ssl": "TLS"}[self.settings.security]
        return how + (", вход выполнен" if self.settings.username else "")

    def send(self, message: EmailMessage | Outgoing) -> None:
        """Deliver to the relay or raise a :class:`MailFailure` subclass.

        The bytes come from :func:`.messages.render` (strict policy, checked) and the envelope from our own
        values: smtplib's ``send_message`` would re-read recipients from the header text instead.
        """
        try:
            outgoing = message if isinstance(message, Outgoing) else render(message)
        except Unbuildable as exc:
            raise PermanentFailure(f"не удалось составить письмо: {exc.message}") from None
        try:
            with self._session() as conn:
                conn.sendmail(outgoing.sender, list(outgoing.recipients), outgoing.data)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(f"адрес отклонён почтовым сервером: {detail}", max(codes)) from None
            raise TemporaryFailure(f"адрес временно не принят: {detail}", min(codes) if codes else None) from None
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise PermanentFailure(
                    f"письмо отклонено: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code
                ) from None
            raise TemporaryFailure(
                f"письмо временно не принято: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(
                f"почтовый сервер не принял логин и пароль ({exc.smtp_code})", exc.smtp_code
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"ошибка отправки: {type(exc).__name__}: {exc}") from None
