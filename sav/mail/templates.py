"""What SAV's mails say, in the ticket's language (`en`, `fr`). Pure text templates."""

from __future__ import annotations

from dataclasses import dataclass

ACK, REPLY, RESOLVED = "ack", "reply", "resolved"


@dataclass(frozen=True)
class Texts:
    greeting: str
    ack: str
    reply_footer: str
    resolved: str
    resolved_no_text: str
    signature: str


TEXTS = {
    "en": Texts(
        greeting="Hello{name},",
        ack="We have received your request and opened ticket {number}. We will answer "
            "you as soon as we can. To add anything, just reply to this mail.",
        reply_footer="To answer, just reply to this mail (ticket {number}).",
        resolved="Your ticket {number} has been resolved:",
        resolved_no_text="Your ticket {number} has been resolved. If the problem is not "
                         "solved, just reply to this mail to reopen it.",
        signature="The support team",
    ),
    "fr": Texts(
        greeting="Bonjour{name},",
        ack="Nous avons bien reçu votre demande et ouvert le ticket {number}. Nous vous "
            "répondrons dès que possible. Pour ajouter quelque chose, répondez simplement "
            "à ce message.",
        reply_footer="Pour répondre, répondez simplement à ce message (ticket {number}).",
        resolved="Votre ticket {number} a été résolu :",
        resolved_no_text="Votre ticket {number} a été résolu. Si le problème persiste, "
                         "répondez simplement à ce message pour le rouvrir.",
        signature="L'équipe support",
    ),
}


def preferred_locale(accept_language: str | None) -> str | None:
    """The first language of an Accept-Language (or Content-Language) header that SAV
    writes mail in, by quality; None when none is (the ticket keeps its default)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in TEXTS and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else None


def body(kind: str, locale: str, number: str, name: str | None, text: str | None) -> str:
    texts = TEXTS.get(locale, TEXTS["en"])
    lines = [texts.greeting.format(name=f" {name}" if name else ""), ""]
    if kind == ACK:
        lines.append(texts.ack.format(number=number))
    elif kind == REPLY:
        lines += [text or "", "", texts.reply_footer.format(number=number)]
    elif text:
        lines += [texts.resolved.format(number=number), "", text]
    else:
        lines.append(texts.resolved_no_text.format(number=number))
    lines += ["", "-- ", texts.signature]
    return "\n".join(lines) + "\n"
