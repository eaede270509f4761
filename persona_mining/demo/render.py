"""The text of a demo ticket: subject and body from the issue's templates, with noise.

Slots (products, order numbers, dates, amounts, devices, ...) are filled from
``helpdesk.toml``; around the issue come random greetings and sign-offs, signatures
with fake personal data (names, example.com/.net e-mails, 555-01xx phones), typos,
HTML (about 15% of tickets), quoted previous replies (about 10%), "card ending 1234"
and, rarely, a full test card number: what the cleaning stage has to cope with.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta

from persona_mining.demo.data import load_helpdesk
from persona_mining.demo.plan import pick

__all__ = [
    "HTML_RATE",
    "LOWERCASE_RATE",
    "QUOTE_RATE",
    "TYPO_RATE",
    "make_person",
    "render_ticket",
]

_DESK = load_helpdesk()

HTML_RATE, QUOTE_RATE = 0.27, 0.18  # of email/web tickets (about 15% / 10% of all)
TYPO_RATE, LOWERCASE_RATE = 0.25, 0.04
MONTHS, WEEKDAYS = _DESK.months, _DESK.weekdays
_SLOT_VALUES = _DESK.slot_values
_SIMPLE_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "order": lambda r: (
        f"NW-{r.randint(100000, 999999)}" if r.random() < 0.8 else f"#{r.randint(1000000, 9999999)}"
    ),
    "amount": lambda r: f"${r.randint(5, 400)}.{r.choice(('00', '49', '95', '99'))}",
    "days": lambda r: str(r.randint(3, 30)),
    "code": lambda r: r.choice(_SLOT_VALUES["promo_words"]) + str(r.choice((10, 15, 20, 25))),
    "card4": lambda r: f"{r.randint(0, 9999):04d}",
    "version": lambda r: f"{r.randint(4, 6)}.{r.randint(0, 12)}.{r.randint(0, 9)}",
}


def _fmt_date(rng: random.Random, d: date) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"{MONTHS[d.month - 1]} {d.day}"
    if style == 1:
        return f"{d.day} {MONTHS[d.month - 1][:3]}"
    if style == 2:
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    return d.isoformat()


class _Slots(dict[str, str]):
    """Template slots, filled lazily and consistently within one ticket."""

    def __init__(self, rng: random.Random, created: datetime, cats: dict[str, float]) -> None:
        super().__init__()
        self.rng, self.created, self.cats = rng, created, cats

    def _product(self) -> str:
        return self.rng.choice(_DESK.products[pick(self.rng, self.cats)])

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "product":
            value = self._product()
        elif key == "product2":
            value = self._product()
            while value == self["product"]:
                value = rng.choice(_DESK.products[rng.choice(tuple(_DESK.products))])
        elif key == "date":
            value = _fmt_date(rng, self.created.date() - timedelta(days=rng.randint(1, 25)))
        elif key in _SIMPLE_SLOTS:
            value = _SIMPLE_SLOTS[key](rng)
        else:
            value = rng.choice(_SLOT_VALUES[key])
        self[key] = value
        return value


def _typos(rng: random.Random, text: str, n: int) -> str:
    words = text.split(" ")
    for _ in range(n):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) >= 4 and w.isalpha():
            j = rng.randrange(1, len(w) - 1)
            swapped = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            words[i] = swapped if rng.random() < 0.5 else w[:j] + w[j + 1 :]
    return " ".join(words)


def _quote(
    rng: random.Random, created: datetime, person: dict[str, str], subject: str
) -> tuple[str, list[str]]:
    """Return a quoted previous support reply: (header, lines)."""
    when = created - timedelta(days=rng.randint(1, 6), minutes=rng.randrange(600))
    lines = [
        f"Hello {person['first']},",
        "",
        *rng.sample(_DESK.support_reply_lines, 2),
        "",
        "Kind regards,",
        "Northwind Support",
    ]
    if rng.random() < 0.6:
        header = (
            f"On {WEEKDAYS[when.weekday()][:3]}, {when.day} {MONTHS[when.month - 1][:3]} "
            f"{when.year} at {when:%H:%M}, Northwind Support <{_DESK.support_address}> wrote:"
        )
        return header, ["> " + line if line else ">" for line in lines]
    header = (
        f"-----Original Message-----\nFrom: Northwind Support <{_DESK.support_address}>\n"
        f"Sent: {WEEKDAYS[when.weekday()]}, {MONTHS[when.month - 1]} {when.day}, "
        f"{when.year} {when:%I:%M %p}\nTo: {person['email']}\nSubject: RE: {subject}\n"
    )
    return header, lines


def make_person(rng: random.Random) -> dict[str, str]:
    """Draw a fake writer: first and last name, e-mail and phone number."""
    first, last = rng.choice(_DESK.first_names), rng.choice(_DESK.last_names)
    domain = rng.choice(("example.com", "example.net"))
    sep = rng.choice((".", "_", ""))
    email = f"{first.lower()}{sep}{last.lower()}{rng.randint(1, 99)}@{domain}"
    phone = rng.choice(_DESK.phone_formats).format(a=rng.randint(201, 989), b=rng.randrange(100))
    return {"first": first, "last": last, "email": email, "phone": phone}


def render_ticket(
    rng: random.Random,
    issue: str,
    channel: str,
    created: datetime,
    person: dict[str, str],
    cats: dict[str, float],
) -> tuple[str, str]:
    """Render one ticket's (subject, body)."""
    spec = _DESK.issues[issue]
    slots = _Slots(
        rng,
        created,
        {c: 1.0 for c in spec.product_categories} if spec.product_categories else cats,
    )
    subject = rng.choice(spec.subjects).format_map(slots)
    core = rng.choice(spec.bodies).format_map(slots)
    if rng.random() < 0.35:
        closer = rng.choice(_DESK.closers)
        if "{order}" not in closer or "order" not in slots:
            core += " " + closer.format_map(slots)
    if issue in ("payment_failed", "refund_delay") and rng.random() < 0.06:
        expiry = f"{rng.randint(1, 12):02d}/{rng.randint(27, 31)}"
        core += f" The card number is {rng.choice(_DESK.test_cards)}, expiry {expiry}."
    if rng.random() < TYPO_RATE:
        core = _typos(rng, core, rng.randint(1, 3))
    if rng.random() < LOWERCASE_RATE:
        core = core.lower()
    paragraphs = [rng.choice(_DESK.greetings)] if rng.random() < 0.7 else []
    paragraphs.append(core)
    if rng.random() < 0.1:
        paragraphs.append(rng.choice(_DESK.contact_lines).format_map(person))
    signature = rng.choice(_DESK.signoffs).format_map(person) if rng.random() < 0.75 else ""
    rich = channel in ("email", "web")
    quote = _quote(rng, created, person, subject) if rich and rng.random() < QUOTE_RATE else None
    if quote and rng.random() < 0.7:
        subject = "Re: " + subject
    elif rng.random() < 0.08:
        subject = subject.lower()
    if rich and rng.random() < HTML_RATE:

        def esc(text: str) -> str:
            return html.escape(text).replace("\n", "<br>")

        body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
        if "order" in slots and rng.random() < 0.5:
            body = body.replace(esc(slots["order"]), f"<b>{esc(slots['order'])}</b>")
        if signature:
            body += f'<div class="signature">{esc(signature)}</div>'
        if quote:
            body += (
                f'<div class="gmail_quote">{esc(quote[0])}<blockquote type="cite">'
                f"{'<br>'.join(esc(q) for q in quote[1])}</blockquote></div>"
            )
        if rng.random() < 0.5:
            body = f"<html><body>{body}</body></html>"
        return subject, body
    body = "\n\n".join(paragraphs) + (f"\n\n{signature}" if signature else "")
    if quote:
        body += "\n\n" + quote[0] + "\n" + "\n".join(quote[1])
    return subject, body
