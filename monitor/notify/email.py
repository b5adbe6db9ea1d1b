"""Email over SMTP: STARTTLS (certificate verified) and optional AUTH, stdlib ``smtplib`` run in
a worker thread (``asyncio.to_thread``) so the event loop never waits on the mail server.

One plain-text message per event to every address in ``to``. Its ``Message-ID`` is derived
from the idempotency key, so a retry carries the same id and mail clients fold duplicates.
Failures: a 4xx reply, a dropped connection or a timeout is retried; a 5xx reply (bad login,
sender or every recipient refused) or a server without STARTTLS is permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from monitor.core.clock import Clock
from monitor.notify import EVENT_KINDS, DeliveryError, Event, EventKind

__all__ = ["EmailChannel", "build_message", "event_lines", "new_message"]


def new_message(event: Event, subject: str, sender: str, to: Sequence[str],
                idempotency_key: str, clock: Clock) -> EmailMessage:
    """A message about ``event`` with its headers; its ``Message-ID`` is derived from the
    idempotency key, so a retry carries the same id."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(clock.now().astimezone(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "upwatch.invalid"
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@{domain}>"
    msg["X-Upwatch-Event"] = event.kind
    return msg


def event_lines(event: Event) -> list[str]:
    """The event in plain text: its title, its text, the services and when."""
    lines = [event.title, ""]
    if event.text:
        lines += [event.text, ""]
    if event.services:
        lines.append("Services: " + ", ".join(event.services))
    lines.append("At: " + event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return lines


def build_message(event: Event, sender: str, to: Sequence[str], idempotency_key: str,
                  clock: Clock) -> EmailMessage:
    """The message sent for ``event``: subject = the event's title, body = its text."""
    msg = new_message(event, event.title, sender, to, idempotency_key, clock)
    msg["X-Upwatch-Event-Id"] = event.id
    lines = [*event_lines(event), "", f"-- upwatch ({event.kind} notification {event.id})"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _reply_error(code: int, what: str, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return DeliveryError(f"{what}: {code} {text.strip()}".rstrip(), permanent=500 <= code < 600)


class EmailChannel:
    """Sends each event as a plain-text email through an SMTP server."""

    def __init__(self, name: str, host: str, port: int, sender: str, to: Sequence[str],
                 clock: Clock, *, starttls: bool = True, username: str | None = None,
                 password: str | None = None,
                 events: frozenset[EventKind] = frozenset(EVENT_KINDS), timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.name, self._host, self._port = name, host, port
        self._sender, self._to, self._clock = sender, tuple(to), clock
        self._starttls, self._username, self._password = starttls, username, password
        self.events, self._timeout = events, timeout
        self._ssl = ssl_context

    @property
    def sender(self) -> str:
        return self._sender

    async def send(self, event: Event, idempotency_key: str) -> None:
        msg = build_message(event, self._sender, self._to, idempotency_key, self._clock)
        await self.send_message(msg, self._to)

    async def send_message(self, msg: EmailMessage, to: Sequence[str]) -> None:
        """Send ``msg`` to ``to`` through this channel's server (status page subscribers' mail
        goes this way)."""
        await asyncio.to_thread(self._deliver, msg, tuple(to))

    def _deliver(self, msg: EmailMessage, to: Sequence[str]) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._ssl or ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(msg, from_addr=parseaddr(self._sender)[1],
                                            to_addrs=[parseaddr(a)[1] for a in to])
        except smtplib.SMTPNotSupportedError as err:
            raise DeliveryError(str(err).rstrip("."), permanent=True) from None
        except smtplib.SMTPAuthenticationError as err:
            raise _reply_error(err.smtp_code, "login refused", err.smtp_error) from None
        except smtplib.SMTPSenderRefused as err:
            raise _reply_error(err.smtp_code, f"sender {err.sender} refused",
                               err.smtp_error) from None
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            first_code, first_reply = next(iter(err.recipients.values()))
            error = _reply_error(first_code, "every recipient refused", first_reply)
            error.permanent = all(500 <= c < 600 for c in codes)
            raise error from None
        except smtplib.SMTPResponseException as err:
            raise _reply_error(err.smtp_code, "the server refused", err.smtp_error) from None
        except ssl.SSLError as err:
            raise DeliveryError(f"TLS failed: {err.reason or err}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"{type(err).__name__}: {err}".rstrip(": ")) from None
        if refused:
            # the others got it: failing now would send it to them again on the retry
            raise DeliveryError("refused by the server for " + ", ".join(sorted(refused))
                                + " (sent to the other recipients)", permanent=True)

