"""Generate data/sample/tickets.csv: 200 plausible customer-support tickets for the rowrelay demo.

Deterministic: a seeded `random.Random` picks among hand-written subject and body templates per issue
kind and fills them with products, amounts, error codes and the like, so reruns produce the same file
byte for byte. Run from the repository root:

    .venv/bin/python data/sample/make_tickets.py
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20240611
COUNT = 200
OUT = Path(__file__).with_name("tickets.csv")
START = datetime(2024, 6, 3, 7, 0, 0)


@dataclass(frozen=True)
class Variant:
    """One way a customer describes an issue: subjects that fit the body, and the body."""

    subjects: tuple[str, ...]
    body: str


KINDS: dict[str, tuple[int, tuple[Variant, ...]]] = {
    # kind: (how often it comes up, its variants)
    "double_charge": (
        8,
        (
            Variant(
                ("Charged twice this month", "Why was I billed {amount} twice?"),
                "Hi, I just looked at my statement and there are two charges of {amount} from you on {date}. "
                "We only have one workspace. Please refund the duplicate.",
            ),
            Variant(
                ("Duplicate payment for {invoice}", "Duplicate charge on my card"),
                "Our finance team flagged a double payment for invoice {invoice}. Both went through on the "
                "card ending {last4}. Can you reverse one of them and confirm by email?",
            ),
        ),
    ),
    "refund": (
        6,
        (
            Variant(
                ("Cancelled but still charged", "Refund request"),
                "I cancelled my subscription on {date} but was charged {amount} the next day. "
                "I'd like that refunded please, I haven't used the product since.",
            ),
            Variant(
                ("Requesting a refund for annual plan", "Switched to annual by mistake"),
                "We upgraded to the annual plan by mistake (meant to stay monthly). It was {days} days ago. "
                "Is it possible to get a prorated refund and switch back?",
            ),
        ),
    ),
    "invoice": (
        5,
        (
            Variant(
                ("Need VAT number on invoice", "Please reissue invoice {invoice}"),
                "Our accounting department needs our VAT ID ({vat}) on invoice {invoice}. "
                "Could you reissue it? The billing page doesn't let me edit past invoices.",
            ),
            Variant(
                ("Can't download invoice {invoice}", "Invoice PDF won't download"),
                "The Download PDF button on the billing page spins forever for invoice {invoice}. "
                "Tried {browser} and another browser. I need it for month-end close by {weekday}.",
            ),
        ),
    ),
    "login": (
        10,
        (
            Variant(
                ("Password reset email never arrives", "No reset email"),
                "I requested a password reset {count} times in the last hour and nothing arrived, "
                "not even in spam. My email is on {domain}. Can you check?",
            ),
            Variant(
                ("2FA code rejected", "Authenticator codes not accepted"),
                "Since this morning my authenticator codes are rejected with 'invalid code'. Time on my "
                "phone is correct. I'm locked out and have a client demo at {time}.",
            ),
            Variant(
                ("Locked out of my account", "Can't log in"),
                "Login page says 'Too many attempts, try again later' and it's been {hours} hours. "
                "I'm the only admin on our account so nobody else can get in either.",
            ),
        ),
    ),
    "sso": (
        4,
        (
            Variant(
                ("SSO login failing for whole team", "SAML error after IdP certificate rotation"),
                "After we rotated our {idp} signing certificate this morning, every user gets "
                "'SAML response signature invalid'. About {users} people can't work. Please help ASAP.",
            ),
            Variant(
                ("New users can't sign in via SSO", "SCIM provisioning broken?"),
                "New hires provisioned through {idp} land on an error page ('user not assigned to "
                "workspace'). Existing users are fine. Did something change in SCIM provisioning?",
            ),
        ),
    ),
    "outage": (
        5,
        (
            Variant(
                ("Dashboard down?", "Getting {code} errors everywhere", "Is there an outage right now?"),
                "Every page returns a {code} error since about {time}. Status page says all systems "
                "operational but nobody on our team ({users} people) can load anything.",
            ),
            Variant(
                ("API returning {code}", "Nightly sync failing with {code}"),
                "Our nightly sync has failed {count} times in a row with HTTP {code} from the API. "
                "This blocks our reporting for {weekday}'s leadership meeting.",
            ),
        ),
    ),
    "bug": (
        12,
        (
            Variant(
                ("CSV export cuts off at {rows} rows", "Export missing records"),
                "When I export the {feature} view to CSV the file stops at exactly {rows} rows, "
                "but the table says there are {more} records. Is there a limit I'm missing?",
            ),
            Variant(
                ("Charts show wrong totals", "Revenue chart doesn't match table"),
                "The weekly revenue chart says {amount} but summing the table underneath gives a different "
                "number. Happens for every week since we changed our timezone to {tz}.",
            ),
            Variant(
                ("{feature} page crashes on save", "White screen when saving"),
                "Clicking Save on the {feature} page shows a white screen and the console shows "
                "'TypeError: cannot read properties of undefined'. Using {browser}. Steps: open an existing "
                "item, change the owner, click Save.",
            ),
            Variant(
                ("Dates off by one day in reports", "Scheduled report dates wrong"),
                "All timestamps in scheduled reports are a day early. Our workspace timezone is {tz}. "
                "The same report viewed in the app shows the right dates.",
            ),
            Variant(
                ("Filters reset when I switch tabs", "Saved filters keep disappearing"),
                "Every time I switch between the {feature} tabs my filters reset to the defaults. "
                "It started after last week's update. Using {browser}.",
            ),
        ),
    ),
    "performance": (
        6,
        (
            Variant(
                ("App is very slow today", "{feature} page takes forever to load"),
                "Loading the {feature} page takes {seconds} seconds for us today, normally it's instant. "
                "We're on {browser} and our connection is fine.",
            ),
            Variant(
                ("Reports time out", "Long reports never finish"),
                "Any report over 90 days times out after {seconds} seconds. We have roughly {rows} records. "
                "This used to work last month.",
            ),
        ),
    ),
    "integration": (
        7,
        (
            Variant(
                ("{integration} integration stopped syncing", "{integration} sync stuck since {date}"),
                "Our {integration} integration hasn't synced since {date}. The connection page shows a green "
                "check but no new records come through. Reconnecting didn't help.",
            ),
            Variant(
                ("Webhook not firing", "Webhooks stopped arriving"),
                "Webhooks to our endpoint stopped arriving around {time}. Our server logs show nothing, "
                "so I don't think they are being sent. Endpoint responds 200 to a manual curl.",
            ),
        ),
    ),
    "api": (
        5,
        (
            Variant(
                ("API rate limit question", "Getting 429s below the documented limit"),
                "We're getting HTTP 429 at around {rps} requests per second, but the docs say our plan "
                "allows more. Is the limit per key or per workspace?",
            ),
            Variant(
                ("API key not working", "New API key returns 401"),
                "A newly created API key returns 401 'invalid credentials' on every call. The old key still "
                "works. Created it {hours} hours ago from the settings page.",
            ),
        ),
    ),
    "feature_request": (
        8,
        (
            Variant(
                ("Feature request: {wish}", "Suggestion: {wish}"),
                "Love the product. One thing that would save us a lot of time: {wish}. Right now we do it "
                "by hand every {weekday}.",
            ),
            Variant(
                ("Any plans for {wish}?", "Roadmap question"),
                "Our team of {users} keeps asking for {wish}. Is it on the roadmap? Happy to beta test.",
            ),
        ),
    ),
    "how_to": (
        10,
        (
            Variant(
                ("Quick question", "How do I do this?", "Can't find this in Settings"),
                "Sorry if this is obvious, but how do I {task}? I looked in Settings and couldn't find it.",
            ),
            Variant(
                ("Admin question", "Best way to {task}?"),
                "New admin here. What's the right way to {task}? I want to make sure I don't break anything "
                "for the other {users} users.",
            ),
        ),
    ),
    "cancellation": (
        5,
        (
            Variant(
                ("Cancel my subscription", "Closing our account"),
                "Please cancel our subscription at the end of this billing period. We're consolidating "
                "tools. Can we export all our data first?",
            ),
            Variant(
                ("Want to downgrade to free", "Downgrade question"),
                "We'd like to downgrade to the free plan. What happens to data over the free limits?",
            ),
        ),
    ),
    "privacy": (
        3,
        (
            Variant(
                ("GDPR deletion request", "Delete all my data"),
                "Under GDPR article 17 I request deletion of all personal data you hold about me "
                "({email}). Please confirm once done.",
            ),
            Variant(
                ("Data processing agreement", "Need DPA and sub-processor list"),
                "Our legal team needs a signed DPA and your list of sub-processors before we can roll out "
                "to {users} more users. Who should we contact?",
            ),
        ),
    ),
    "security": (
        3,
        (
            Variant(
                ("Suspicious login on my account", "Login alert from {city}, not me"),
                "I got a new-login alert from {city} at {time}. That wasn't me. I've changed my password. "
                "Can you check what was accessed and sign out all sessions?",
            ),
            Variant(
                ("Possible phishing email using your brand", "Phishing warning"),
                "Several of our staff got an email claiming to be from you asking them to 're-verify "
                "billing' with a link to a lookalike domain. Forwarding the headers. Is this known?",
            ),
        ),
    ),
    "praise": (
        3,
        (
            Variant(
                ("Thank you!", "Loving the new {feature} view"),
                "Not an issue, just wanted to say the new {feature} view is great and saved our team hours "
                "this week. Thanks!",
            ),
            Variant(
                ("Great support experience", "Thanks to {agent}"),
                "Your agent {agent} fixed our {integration} problem in ten minutes yesterday. Please pass "
                "on our thanks.",
            ),
        ),
    ),
}

FILLS: dict[str, tuple[str, ...]] = {
    "feature": ("Projects", "Dashboard", "Invoices", "Contacts", "Pipeline", "Timesheets", "Reports"),
    "browser": ("Chrome 125", "Firefox 126", "Safari 17", "Edge 125"),
    "idp": ("Okta", "Azure AD", "Google Workspace", "OneLogin"),
    "integration": ("Salesforce", "HubSpot", "Slack", "QuickBooks", "Jira", "Google Sheets"),
    "tz": ("Europe/Berlin", "America/Chicago", "Asia/Singapore", "Australia/Sydney"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "domain": ("gmail.com", "outlook.com", "our company domain", "a custom domain"),
    "city": ("Lagos", "São Paulo", "Frankfurt", "Hanoi", "Toronto"),
    "agent": ("Priya", "Marco", "Jen", "Tomás", "Aiko"),
    "code": ("502", "503", "504", "500"),
    "wish": (
        "dark mode",
        "recurring tasks",
        "exporting reports to Excel with formatting",
        "custom fields on contacts",
        "an API endpoint for bulk updates",
        "per-project permissions",
        "SAML for the pro plan",
    ),
    "task": (
        "add a teammate with read-only access",
        "transfer workspace ownership to a colleague",
        "see who deleted a record",
        "bulk import contacts from a spreadsheet",
        "change our billing email",
        "turn on two-factor for everyone",
    ),
}
TIERS = (("free", 55), ("pro", 35), ("enterprise", 10))
CHANNELS = (("email", 50), ("chat", 35), ("phone", 15))
SIGNOFFS = (
    "",
    "",
    "\n\nThanks,\n{name}",
    "\n\nBest regards,\n{name}",
    "\n\nCheers, {name}",
    " Thanks in advance.",
)
NAMES = ("Ana", "Ben", "Chloe", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam")


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _day(moment: datetime) -> str:
    """'June 7': strftime's %-d is glibc-only."""
    return f"{moment:%B} {moment.day}"


def _values(rng: random.Random, when: datetime) -> dict[str, str]:
    """Every placeholder's value for one ticket; templates use whichever they need."""
    values = {name: rng.choice(options) for name, options in FILLS.items()}
    rows = rng.choice((1000, 5000, 10000, 65536))
    values |= {
        "amount": f"${rng.choice((12, 29, 49, 99, 240, 588, 1188))}.00",
        "date": _day(when - timedelta(days=rng.randint(1, 20))),
        "invoice": f"INV-{rng.randint(2023000, 2024999)}",
        "last4": f"{rng.randint(0, 9999):04d}",
        "vat": f"DE{rng.randint(100000000, 999999999)}",
        "count": str(rng.randint(2, 6)),
        "days": str(rng.randint(2, 25)),
        "hours": str(rng.randint(2, 30)),
        "time": f"{rng.randint(8, 17)}:{rng.choice(('00', '15', '30', '45'))}",
        "users": str(rng.choice((5, 12, 40, 150, 800))),
        "rows": f"{rows:,}",
        "more": f"{rows + rng.randint(10, 90000):,}",
        "seconds": str(rng.randint(20, 120)),
        "rps": str(rng.choice((5, 10, 20, 50))),
        "name": rng.choice(NAMES),
    }
    values["email"] = f"{values['name'].lower()}@example.com"
    return values


def make_tickets(count: int = COUNT, seed: int = SEED) -> list[dict[str, str]]:
    """`count` tickets in time order, the same for the same seed."""
    rng = random.Random(seed)
    names = list(KINDS)
    weights = [KINDS[n][0] for n in names]
    when = START
    tickets: list[dict[str, str]] = []
    for number in range(1, count + 1):
        when += timedelta(minutes=rng.randint(3, 300))
        variant = rng.choice(KINDS[rng.choices(names, weights=weights)[0]][1])
        values = _values(rng, when)
        body = variant.body.format(**values) + rng.choice(SIGNOFFS).format(**values)
        tickets.append(
            {
                "ticket_id": f"T-{number:05d}",
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "customer_tier": _weighted(rng, TIERS),
                "channel": _weighted(rng, CHANNELS),
                "subject": rng.choice(variant.subjects).format(**values),
                "body": body,
            }
        )
    return tickets


def main() -> None:
    tickets = make_tickets()
    with OUT.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(tickets[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(tickets)
    print(f"wrote {len(tickets)} tickets to {OUT}")


if __name__ == "__main__":
    main()
