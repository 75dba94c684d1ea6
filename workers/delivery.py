"""Sending one notification over one channel: a signed webhook POST or an e-mail (SPEC §5).

Deciding what to send, and recording that it was sent, is accounting.notifications';
this module only talks to the outside world, with timeouts, and says whether a
failure may heal (DeliveryUnavailable: retried with backoff) or not (DeliveryRejected).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from accounting.notifications import NotificationFacts
from models.settings import Settings
from workers.email_text import render_email

USER_AGENT = "Blocktime-Webhooks/1"
# 408 Request Timeout and 429 Too Many Requests heal with time, like any 5xx.
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """A channel did not take the notification."""


class DeliveryUnavailable(DeliveryError):
    """Temporary: the endpoint or mail server is down, slow or overloaded. Retried."""


class DeliveryRejected(DeliveryError):
    """Permanent: the endpoint or mail server refused it. Not retried."""


def post_webhook(
    url: str, *, body: bytes, signature: str, event: str, delivery_id: int, timeout: float
) -> None:
    """POST the JSON body with its X-Blocktime-Signature; any 2xx is delivered.

    Redirects are not followed: the registered URL is the one the secret was given to.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Blocktime-Signature": signature,
        "X-Blocktime-Event": event,
        # Stable across retries, so a receiver can drop a repeat after a lost response.
        "X-Blocktime-Delivery": str(delivery_id),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TransportError as exc:  # connect, read and write errors and timeouts
        raise DeliveryUnavailable(f"POST {url}: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return
    message = f"POST {url}: HTTP {response.status_code}"
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
        raise DeliveryUnavailable(message)
    raise DeliveryRejected(message)


def compose_email(settings: Settings, *, to: str, facts: NotificationFacts) -> EmailMessage:
    """Plain text with an HTML alternative, both from one template (workers/email_text.py)."""
    rendered = render_email(facts, currency=settings.currency)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="blocktime")
    message["X-Blocktime-Event"] = facts.kind
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def send_email(settings: Settings, *, to: str, facts: NotificationFacts) -> None:
    """Send through SMTP_HOST; 4xx replies and lost connections are temporary.

    With SMTP_STARTTLS the connection is upgraded before anything else is said, and the
    server's certificate is verified (system CAs, or SMTP_CA_FILE); no STARTTLS offered
    is a refusal, never a silent fallback to plain text.
    """
    if not settings.smtp_host:
        raise DeliveryRejected("SMTP is not configured")
    message = compose_email(settings, to=to, facts=facts)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.webhook_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ca_file))
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryRejected(f"SMTP {settings.smtp_host}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryRejected(f"SMTP {settings.smtp_host}: STARTTLS certificate refused: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = f"SMTP refused {to}: {exc.recipients}"
        if all(400 <= code < 500 for code in codes):
            raise DeliveryUnavailable(error) from exc
        raise DeliveryRejected(error) from exc
    except smtplib.SMTPResponseException as exc:
        error = f"SMTP {settings.smtp_host}: {exc.smtp_code} {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            raise DeliveryUnavailable(error) from exc
        raise DeliveryRejected(error) from exc
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts
        raise DeliveryUnavailable(f"SMTP {settings.smtp_host}: {type(exc).__name__}: {exc}") from exc
