"""Seeded demo data: customers and support tickets of the fictional retailer Northwind Goods.

The generator plants known personas and known (persona, issue) links so that the
pipeline (cleaning, topic modelling, statistical linking) can be evaluated against
ground truth. Everything is fake: ``example.com``/``example.net`` addresses,
``555`` phone numbers and well-known test card numbers.

Plan (all numbers are constants below, so tests can recompute the truth):

* Customers: ``PERSONA_SHARES`` of them are planted personas (15% busy working
  parents, 15% tech-savvy young professionals, 15% budget-conscious students, 6%
  serial returners, the rest general population). Each persona member matches
  its own ``rule`` (a DuckDB boolean expression over ``customers``) and no other
  rule; general customers match no rule at all, although many are near misses
  (students on paid plans, engineers over 35, part-time parents, customers with
  some returns).
* Tickets: each customer files ``Poisson(TICKETS_PER_CUSTOMER[group])`` tickets
  (returners about 9, everybody else about 3). ``ANONYMOUS_SHARE`` of all tickets
  have no customer. Tickets span ``WINDOW_DAYS`` days ending at ``WINDOW_END``.
* Issues: every ticket's issue (``demo_issue``, ground truth for evaluation only)
  is drawn from ``BASE_RATES`` over all 21 ``ISSUES``: 9 common ones (order_status
  14%, login_problem 8%, payment_failed/cancel_order/damaged_item 7% each, ...)
  and the 12 persona-specific ones at 2-4% each. For a planted persona, with
  probability ``PLANTED_MASS`` (0.45) the issue is instead drawn uniformly from its
  3 ``planted_issues`` (so each gets 0.15 + 0.55 * base, 4-8x its base rate
  and 5-9x its share among other tickets); ``issue_distribution`` is the exact mix:

  ================  ===================================================
  busy_parent       delivery_slot, subscription_pause, easy_setup
  tech_pro          app_crash, tech_specs, preorder
  budget_student    student_discount, price_match, warranty_claim
  serial_returner   return_request, refund_delay, complaint (negative)
  ================  ===================================================

  The planted links (``planted_links()``) are these (persona name, issue) pairs;
  general and anonymous tickets follow ``BASE_RATES`` alone.
* Text: per issue 10+ body and 6+ subject templates with slots (37 products in 6
  categories, order numbers, dates, amounts, devices, ...), random greetings and
  sign-offs, signatures with PII (names, example.com/.net emails, 555-01xx
  phones), typos, HTML (about 15% of tickets), quoted previous replies (about
  10%), "card ending 1234" and, rarely, a full test card number.

Output is byte-identical for the same ``seed``, ``n_customers`` and ``fmt``.
"""

from __future__ import annotations

import csv
import html
import json
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PlannedPersona:
    """A persona planted in the demo data."""

    key: str
    name: str
    rule: str
    description: str
    negative: bool
    planted_issues: tuple[str, ...]


@dataclass(frozen=True)
class DemoResult:
    """Paths and sizes of a generated demo data set."""

    customers_path: Path
    tickets_path: Path
    config_path: Path
    plan_path: Path
    n_customers: int
    n_tickets: int


COMPANY = "Northwind Goods"
SUPPORT_ADDRESS = "support@northwind.example"
WINDOW_END = datetime(2026, 4, 1)  # exclusive: tickets run up to 2026-03-31 23:59:59
WINDOW_DAYS = 182
FORMATS = ("csv", "jsonl", "parquet")
TECH_OCCUPATIONS = ("software engineer", "data analyst", "product designer")

PERSONAS: tuple[PlannedPersona, ...] = (
    PlannedPersona(
        "busy_parent",
        "Busy working parent",
        "household = 'family with children' AND work_status = 'full-time'",
        "Works full-time with children at home; short on time, wants convenient, "
        "low-maintenance products usable on the go.",
        False,
        ("delivery_slot", "subscription_pause", "easy_setup"),
    ),
    PlannedPersona(
        "tech_pro",
        "Tech-savvy young professional",
        "age BETWEEN 22 AND 35 AND occupation IN "
        "('software engineer', 'data analyst', 'product designer')",
        "Young professional in tech; wants cutting-edge features and performance.",
        False,
        ("app_crash", "tech_specs", "preorder"),
    ),
    PlannedPersona(
        "budget_student",
        "Budget-conscious college student",
        "occupation = 'student' AND plan = 'free'",
        "Student on the free plan; looks for value, durability and versatility.",
        False,
        ("student_discount", "price_match", "warranty_claim"),
    ),
    PlannedPersona(
        "serial_returner",
        "Serial returner",
        "returns_12m >= 6 AND returns_12m >= 0.4 * orders_12m",
        "Keeps returning products and complaining; many contacts, costly to serve.",
        True,
        ("return_request", "refund_delay", "complaint"),
    ),
)

ISSUES: dict[str, str] = {
    "order_status": "Where is my order",
    "payment_failed": "Payment failed",
    "login_problem": "Login problem / password reset",
    "change_address": "Change delivery address",
    "cancel_order": "Cancel an order",
    "invoice_request": "Invoice or receipt request",
    "damaged_item": "Item arrived damaged",
    "wrong_item": "Wrong item received",
    "promo_code": "Promo code not working",
    "delivery_slot": "Delivery time slot",
    "subscription_pause": "Pause or skip a subscription",
    "easy_setup": "Too complicated to set up",
    "app_crash": "Mobile app crashes",
    "tech_specs": "Technical specs and compatibility",
    "preorder": "Pre-orders and launch dates",
    "student_discount": "Student discount",
    "price_match": "Price match",
    "warranty_claim": "Warranty claim / broke quickly",
    "return_request": "Return request",
    "refund_delay": "Refund delay",
    "complaint": "Complaint about quality or service",
}

# Base issue rates for everybody (sum to 1); planted issues included at a lower rate.
BASE_RATES: dict[str, float] = {
    "order_status": 0.14,
    "payment_failed": 0.07,
    "login_problem": 0.08,
    "change_address": 0.06,
    "cancel_order": 0.07,
    "invoice_request": 0.05,
    "damaged_item": 0.07,
    "wrong_item": 0.05,
    "promo_code": 0.06,
    "delivery_slot": 0.03,
    "subscription_pause": 0.02,
    "easy_setup": 0.03,
    "app_crash": 0.03,
    "tech_specs": 0.03,
    "preorder": 0.02,
    "student_discount": 0.02,
    "price_match": 0.03,
    "warranty_claim": 0.03,
    "return_request": 0.04,
    "refund_delay": 0.04,
    "complaint": 0.03,
}
PLANTED_MASS = 0.45  # share of a persona's tickets moved onto its planted issues
PERSONA_SHARES: dict[str, float] = {
    "busy_parent": 0.15,
    "tech_pro": 0.15,
    "budget_student": 0.15,
    "serial_returner": 0.06,
}
TICKETS_PER_CUSTOMER: dict[str, float] = {
    "busy_parent": 3.4,
    "tech_pro": 3.4,
    "budget_student": 3.2,
    "serial_returner": 9.0,
    "general": 3.0,
}
ANONYMOUS_SHARE = 0.03
PREFERRED_CHANNEL_SHARE = 0.7  # otherwise a uniformly random channel
HTML_RATE, QUOTE_RATE = 0.27, 0.18  # of email/web tickets (about 15% / 10% of all)
TYPO_RATE, LOWERCASE_RATE = 0.25, 0.04
CUSTOMER_COLUMNS = (
    "customer_id",
    "age",
    "occupation",
    "household",
    "work_status",
    "plan",
    "region",
    "channel_preference",
    "signup_date",
    "orders_12m",
    "returns_12m",
)
TICKET_COLUMNS = (
    "ticket_id",
    "customer_id",
    "created_at",
    "updated_at",
    "channel",
    "subject",
    "body",
    "demo_issue",
)

CHANNELS = ("email", "chat", "phone", "web")
REGIONS = ("Northeast", "Southeast", "Midwest", "Southwest", "West Coast", "Mountain")
HOUSEHOLDS = ("single", "couple", "family with children", "shared flat", "living with parents")
OCCUPATIONS = (
    "teacher",
    "nurse",
    "accountant",
    "sales associate",
    "store manager",
    "electrician",
    "marketing manager",
    "civil servant",
    "chef",
    "delivery driver",
    "pharmacist",
    "lawyer",
    "graphic designer",
    "office administrator",
    "mechanic",
    "consultant",
    "carpenter",
    "social worker",
    "physiotherapist",
    "project manager",
)
PRODUCTS: dict[str, tuple[str, ...]] = {
    "kitchen": (
        "air fryer",
        "stand mixer",
        "cast iron skillet",
        "knife set",
        "espresso machine",
        "blender",
    ),
    "kids": (
        "baby monitor",
        "kids' scooter",
        "high chair",
        "stroller",
        "lunch box set",
        "toddler car seat",
    ),
    "electronics": (
        "wireless earbuds",
        "smartwatch",
        "4K monitor",
        "mechanical keyboard",
        "mesh Wi-Fi router",
        "portable SSD",
        "noise-cancelling headphones",
        "USB-C hub",
    ),
    "furniture": (
        "office chair",
        "standing desk",
        "bookshelf",
        "sofa bed",
        "bed frame",
        "desk lamp",
    ),
    "outdoor": (
        "camping tent",
        "hiking backpack",
        "garden hose",
        "patio umbrella",
        "insulated water bottle",
        "bike lock",
    ),
    "household": (
        "coffee pods",
        "dishwasher tablets",
        "nappies",
        "laundry detergent",
        "water filter cartridges",
    ),
}
_CATEGORY_WEIGHTS: dict[str, dict[str, float]] = {
    "busy_parent": {
        "kids": 4,
        "kitchen": 3,
        "household": 3,
        "furniture": 1,
        "outdoor": 1,
        "electronics": 1,
    },
    "tech_pro": {"electronics": 6, "furniture": 1, "kitchen": 1, "outdoor": 1},
    "budget_student": {
        "furniture": 3,
        "kitchen": 2,
        "electronics": 2,
        "outdoor": 2,
        "household": 1,
    },
}
_ISSUE_CATEGORIES = {
    "tech_specs": ("electronics",),
    "preorder": ("electronics",),
    "subscription_pause": ("household",),
    "easy_setup": ("furniture", "kids", "kitchen", "electronics"),
}

# Ticket text templates: '[issue]' starts an issue, '= a | b | ...' lists subject templates,
# every other line is one body template (a trailing backslash continues a line).
_TEMPLATE_TEXT = """\
[order_status]
= Where is my order? | Order {order} not arrived | Tracking not updating | Delivery status for \
{order} | still waiting on my {product} | order {order} - any update? | Has my order shipped?
I ordered the {product} on {date} and it still hasn't arrived. Can you tell me where it is?
Where is my order {order}? The tracking page has said 'label created' for {days} days.
Just checking on order {order}. When will it be delivered?
My {product} was supposed to arrive by {date}. Nothing yet. What's going on?
Tracking for {order} hasn't updated since {date}. Is the parcel lost?
Could you please check the status of my order {order}? I need the {product} before the weekend.
It's been {days} days since I placed order {order} and I have no shipping confirmation. Has it \
even shipped?
order {order} still not here. when will it ship
The courier says delivered but there is no {product} at my door. Where is my package?
I placed an order for a {product} ({order}) and haven't heard anything since. Any update on \
delivery?
Is there a way to get a tracking number for order {order}? The confirmation email didn't include \
one.
[payment_failed]
= Payment declined | Card keeps getting declined | Payment failed at checkout | Charged but \
order failed | Problem paying for my order | Why was my payment rejected?
My payment keeps failing at checkout even though my card ending {card4} works everywhere else. \
Why is it being declined?
I tried to pay {amount} for the {product} three times and got 'payment failed' every time. Can \
you help?
Checkout says my card was declined, but my bank says there is no block on it. What should I do?
I was charged {amount} but the order didn't go through. Can you check if order {order} exists?
Payment error again. Card ending {card4}. This is really annoying, I just want to buy the \
{product}.
Is PayPal currently not working? I get an error whenever I try to pay.
My payment was declined and now I see two pending charges of {amount} on my statement. Please \
explain?
Why does the payment page keep timing out when I enter my card details?
I can't complete my purchase, the 3-D Secure window never loads. Is there another way to pay?
Tried paying with Apple Pay and with a credit card, both failed. Is something wrong on your \
side?
[login_problem]
= Can't log in | Password reset not working | Account locked | Reset link expired | Login issue \
| Locked out of my account
I can't log into my account. The password reset email never arrives. Can you help?
My account got locked after too many attempts. How do I unlock it?
The reset link says it has expired every time I click it, even straight away. What am I doing \
wrong?
I changed my email address and now I can't log in with either one. Please help me get access \
back.
Every time I log in it sends me back to the login page. I've cleared my cookies already.
Can you reset my password manually? I no longer have access to my old email.
Getting 'invalid credentials' although I'm sure the password is right. Was my account hacked?
I never received the verification code by SMS so I'm stuck at the login screen.
locked out again. third time this month. how do I fix this for good?
I want to check my order {order} but I can't sign in. Is the login down?
[change_address]
= Change delivery address | Wrong address on order {order} | Update shipping address | Address \
change request | Can I change the address? | Moved house - update address
I just placed order {order} and realised the address is wrong. Can I change it to my new address \
in {city}?
Could you update the shipping address for order {order}? I've moved.
Is it possible to change the delivery address after the order has shipped?
Please send the {product} to my work address instead. How can I update it?
I entered my old address by mistake. The order is {order}. Can you fix it before it ships?
I moved to {city} last week, how do I change the default address on my account?
The apartment number is missing from my address on order {order}. Will the courier still find \
me?
Need to change the address on {order} ASAP, it's going to the wrong place!
Can I have the parcel redirected to a pickup point near me?
My zip code was autocorrected to the wrong one at checkout. Can you correct it please?
[cancel_order]
= Cancel my order | Please cancel {order} | Cancellation request | How do I cancel? | Ordered by \
mistake | Cancel order before shipping
Please cancel order {order}. I ordered the {product} by mistake.
How do I cancel an order? I can't find the button anywhere.
I'd like to cancel my order {order} if it hasn't shipped yet. Is that possible?
I found the {product} cheaper elsewhere, please cancel my order and refund me.
Can you cancel the {product} from order {order} but keep the rest?
I cancelled order {order} online but still got a shipping confirmation. What happens now?
Ordered twice by accident. Please cancel one of the two orders.
I need to cancel {order}, the delivery date of {date} is too late for me.
Is there a cancellation fee if I cancel today?
cancel {order} please. no longer needed
[invoice_request]
= Invoice request | Need an invoice for {order} | VAT invoice | Receipt for my purchase | \
Company invoice please | Can I get a receipt?
Could you send me an invoice for order {order}? I need it for my expenses.
I need an invoice with my company name on it for the {product}. How do I get one?
Where can I download the receipt for my order from {date}?
The invoice for {order} shows the wrong billing address. Can you issue a corrected one?
Please send a copy of the receipt for {amount} to this email.
My accountant needs invoices for all my orders this year. Is there a way to export them?
Can the invoice be addressed to my company instead of me personally?
I never received an order confirmation or receipt for {order}. Can you resend it?
Is it possible to get an itemised invoice for order {order}? The current one only shows the \
total.
Need the invoice for warranty purposes for the {product} bought on {date}.
[damaged_item]
= Item arrived damaged | Broken on arrival | {product} damaged in delivery | Damaged parcel | \
Received a broken {product} | Box was crushed
The {product} arrived damaged, the box was crushed and it's cracked. What can you do?
My order {order} came today and the {product} is broken. I've attached photos. Can I get a \
replacement?
Received the {product} with a big dent on the side. Is a replacement possible?
The parcel was soaking wet and the {product} inside is ruined.
Half of the parts of the {product} were smashed when I opened the box. How do I get this sorted?
Item damaged in transit. Order {order}. Please advise.
The glass on the {product} was shattered when it arrived. Do I need to send it back or will you \
just send a new one?
Unfortunately the {product} I received has scratches all over it, it looks used. Can you \
exchange it?
Opened my delivery and the {product} was broken. Really disappointed, it was a gift.
The courier clearly dropped the package, the {product} is damaged. Who do I claim with, you or \
them?
[wrong_item]
= Wrong item received | Not what I ordered | Received someone else's order | Wrong size / colour \
| Incorrect item in order {order} | You sent the wrong product
I ordered the {product} but received a {product2} instead. Can you send the right one?
Order {order} contained the wrong item. How do I exchange it?
The {product} I got is the wrong colour. I ordered grey and got pink.
I think I received someone else's order, the name on the packing slip isn't mine. What should I \
do?
Wrong size delivered for the {product}. Do I need to pay for the exchange?
You sent me a {product2}, I never ordered that. Where is my {product}?
One item was missing from order {order} and another one was wrong. Could you check?
The box says {product} but inside is something completely different.
Is it normal that the model I received is different from the one on the website? It's not the \
{product} I ordered.
Got the wrong thing again. Second time this happens. Please fix.
[promo_code]
= Promo code not working | Discount code invalid | Code {code} doesn't apply | Forgot to use my \
voucher | Coupon problem | Newsletter discount?
The promo code {code} says invalid at checkout. It should be valid until {date}. Can you help?
I forgot to apply my discount code {code} to order {order}. Can you refund the difference?
Why doesn't code {code} work on the {product}?
I signed up for the newsletter but never got the 10% welcome code. Where is it?
The voucher only took off {amount} instead of 20%. Is that correct?
Can I combine two promo codes on one order?
My gift card balance disappeared after I used a promo code. What happened?
Code {code} is from your email this morning and it's already expired??
The discount shows in the basket but disappears at payment. Any idea why?
Is there a current promotion on the {product}? The code from the ad doesn't work.
[delivery_slot]
= Delivery time slot | Can I choose a delivery window? | Evening delivery? | Weekend delivery \
for {order} | Reschedule my delivery | Need delivery after 6pm
I work full-time and I'm never home during the day. Can the {product} be delivered in the \
evening?
Is it possible to book a delivery slot on {slot}? Nobody is at home on weekdays.
Can I reschedule the delivery for order {order}? I have to pick up the kids at that time.
The delivery window you gave me is 8am-6pm. That's useless. Can you narrow it down?
Do you offer weekend delivery? Between work and school runs I can't wait in all day.
I missed the delivery again because it came while I was at work. Can you deliver {slot} instead?
Can the driver leave the parcel with a neighbour or in the garage? I won't be in.
Is there an option to pick a specific hour for delivery? My schedule is crazy.
Please move the delivery of {order} to {slot}. Thanks.
Why can't I choose a delivery time at checkout anymore? It used to be possible.
[subscription_pause]
= Pause my subscription | Skip next delivery | Subscribe & Save - skip a month | Change \
subscription frequency | Hold my subscription while away | How to pause subscribe and save?
We're going on holiday, can I pause my subscribe-and-save for the {product} for a month?
How do I skip the next delivery of my subscription? We still have plenty left.
Please pause my {product} subscription until {date}.
I want to change my subscription from every 2 weeks to every 6 weeks. Where do I do that?
Can I skip one month without cancelling the whole subscription?
My subscription shipped even though I clicked 'skip'. Can you stop it?
Is there a way to put all my subscriptions on hold at once? Too busy to click through each one.
We have too many refills piling up. Can I pause the {product} for a few weeks?
The app doesn't let me pause my Subscribe & Save order. Is it broken?
Could you push my next subscription delivery back by {days} days?
[easy_setup]
= Too complicated to set up | Assembly instructions unclear | Setup help for {product} | Is \
there a quick-start guide? | {product} setup taking forever | Can I get it pre-assembled?
The {product} is way too complicated to set up. Is there a simpler guide or a video?
I spent two hours trying to assemble the {product} and I'm still not done. Do you offer \
assembly?
The instructions for the {product} are missing step 4. How am I supposed to finish it?
Is there a quick-start guide for the {product}? I don't have time to read a 40 page manual.
Can I buy the {product} pre-assembled? I have no time for this.
Does the {product} really need all these tools to put together? The listing said 'easy setup'.
I need something I can just plug in and use. Why does the {product} need an app, an account and \
an update first?
Any chance someone can walk me through setting up the {product} over the phone?
Which screws go where on the {product}? The bags aren't labelled.
Setting up the {product} is a nightmare. Is there a low-maintenance alternative you'd recommend?
[app_crash]
= App keeps crashing | Crash on startup (v{version}) | Bug in the iOS app | Android app freezes \
at checkout | App bug report | Checkout crashes in the app
The app crashes every time I open my order history. {device}, app version {version}.
Since the last update ({version}) the app freezes on the checkout screen. Any ETA for a fix?
Bug report: tapping 'Track parcel' crashes the app on my {device}. Reproducible 100%.
The app logs me out randomly and then crashes. Is this a known issue?
Dark mode makes the product pages unreadable in the latest app version. Can you fix it?
Push notifications open a blank screen instead of the order. Running {version} on a {device}.
The app crashes when I scan a barcode. Have you tested this on the {device}?
Your app drains my battery and crashes in the background. Is there a beta I can join?
Checkout in the app fails with 'unexpected error 500'. Works fine on desktop.
Why does the app need to be reinstalled after every update? It just hangs on the splash screen.
[tech_specs]
= Question about {product} specs | Does it support {spec}? | Compatibility question | Firmware \
version? | Spec sheet for the {product} | USB-C / Wi-Fi 6 support?
Does the {product} support {spec}? The product page doesn't say.
Is the {product} compatible with my {device}?
What firmware version ships with the {product}? I need the latest one for {spec}.
Can you confirm the exact chipset and {spec} support of the {product} before I buy?
The listing says {spec} but the box says otherwise. Which is correct?
Is there a detailed spec sheet for the {product}? Benchmark numbers would be great.
Does the {product} charge over USB-C with power delivery, and at what wattage?
Will the {product} work with Wi-Fi 6E routers or only Wi-Fi 6?
What's the latency of the {product} over Bluetooth? Planning to use it for gaming.
Is the {product} getting a firmware update for {spec}? The current one is pretty buggy.
[preorder]
= Pre-order question | When does the new {product} launch? | Pre-order status | Release date? | \
Can I pre-order the {product}? | Launch day delivery
When can I pre-order the new {product}? Is there a launch date yet?
I pre-ordered the {product} on {date}. Will it ship on release day?
Will pre-orders of the {product} be delivered on launch day or after?
My pre-order for the {product} shows 'delayed'. What's the new release date?
Are you getting the next-gen {product} at launch? I want to be among the first.
Is my card charged when I pre-order or when the {product} ships?
Can I change the colour on my pre-order {order} before launch?
Any news on the release date of the {product} 2? Other shops already list it.
Do pre-orders get the launch bundle with the {product}?
Pre-ordered {order} months ago and still no shipping date. Can you give me an ETA?
[student_discount]
= Student discount | Student verification failed | How do I get the student discount? | Student \
ID not accepted | Discount for students? | Student code not working
I'm a student at {school}. How do I get the student discount?
My student verification keeps failing even though I uploaded my student ID. Can you check?
Do you offer a student discount on the {product}?
The student discount wasn't applied to order {order}. Can you refund the difference?
My university email ends in .edu but your verification doesn't accept it. Why?
Is the student discount valid on sale items too?
I verified as a student last year, do I need to do it again?
Student code isn't working at checkout. I'm at {school}. Please help, money is tight.
How long does student verification take? I want to order the {product} before term starts.
Can I use the student discount together with free shipping?
[price_match]
= Price match request | Found it cheaper elsewhere | {product} cheaper at {competitor} | Do you \
price match? | Price dropped after I bought | Refund the price difference?
The {product} is {amount} cheaper at {competitor}. Do you price match?
I bought the {product} on {date} and now it's on sale. Can I get the difference refunded?
{competitor} has the same {product} for less. Can you match their price?
Do you have a price match policy? I'm on a tight budget.
The price went down by {amount} two days after my order {order}. Can you refund the difference?
Is the price of the {product} going to drop again soon? I'd rather wait.
Can you do a better price on the {product} if I buy two?
Your price for the {product} is higher in the app than on the website. Which one is right?
Saw the {product} for {amount} less at {competitor}, will you match it or should I just send \
mine back?
Do you offer price protection? The {product} dropped in price right after I bought it.
[warranty_claim]
= Warranty claim | {product} broke after {days} days | Stopped working | Is this covered by \
warranty? | Defective {product} | Broke already - warranty?
My {product} broke after only {days} days of normal use. Is it covered by warranty?
The {product} I bought on {date} stopped working. How do I make a warranty claim?
The zip on the {product} snapped after a couple of weeks. Not very durable. Can I get a \
replacement?
How long is the warranty on the {product}? Mine is already falling apart.
I expected the {product} to last years, not a month. What are my options?
The {product} won't turn on anymore and it's less than a year old. Warranty please.
The handle of the {product} came off. Do you repair or replace items under warranty?
Do I need the original receipt to claim warranty on the {product}?
Second {product} that broke within {days} days. Is there a more durable model?
The seams on the {product} are ripping. Is this a manufacturing defect covered by warranty?
[return_request]
= Return request | I want to return my {product} | How do I return this? | Return label please | \
Returning order {order} | Return - doesn't fit
I'd like to return the {product} from order {order}. Can you send me a return label?
How do I return an item? The {product} isn't what I expected.
I want to return everything from order {order}. None of it works for me.
Please send a prepaid return label for the {product}.
Returning the {product} again, it just doesn't fit. Where do I drop it off?
Can I still return the {product} after {days} days? I've only used it once.
I need to return another order, {order}. Can you arrange a courier pickup?
Return request for the {product}. Didn't like the colour.
Is return shipping free? I'm returning the {product} and the {product2}.
The return portal won't accept order {order}. How else can I send it back?
[refund_delay]
= Where is my refund? | Refund not received | Refund still pending for {order} | Refund taking \
too long | Returned {days} days ago - no refund | Refund status
I returned the {product} {days} days ago and still haven't received my refund of {amount}. Where \
is it?
Your courier confirmed my return on {date} but the refund is still pending. Why so slow?
When will I get my refund for order {order}? It's been weeks.
I got a refund email but the {amount} isn't back on my card. How long does it take?
Refund for {order} still not processed. This is the third time I'm asking.
You refunded {amount} but I paid more than that for the {product}. Where's the rest?
Can you confirm the refund for the {product} has been issued? My bank shows nothing.
Still waiting on my refund. What's the holdup?
Why does a refund take {days} days when you took my money instantly?
I'd like a status update on the refund for return {order}, please.
[complaint]
= Complaint | Terrible service | Very unhappy | Formal complaint about order {order} | Worst \
shopping experience | Nobody answers my emails
This is a formal complaint. The quality of the {product} is awful and your service has been even \
worse.
I am extremely unhappy. Nobody has answered my last three emails. Is anyone actually reading \
these?
Your products are cheap rubbish. The {product} fell apart and I want to speak to a manager.
I've been a customer for years and this is the worst experience I've had. Why should I keep \
shopping here?
The agent on the phone hung up on me. Unacceptable. I want this escalated.
Everything I order from you arrives late, broken or wrong. What are you going to do about it?
I'll be leaving a 1-star review unless someone contacts me today about order {order}.
Absolutely disgusted with how my last order was handled. Who can I complain to?
Why is your customer service so useless? I keep getting copy-paste answers.
The {product} looks nothing like the photos. Misleading listing and poor quality. I want \
compensation.
"""


def _parse_templates(text: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Parse `_TEMPLATE_TEXT` into issue -> {"subjects": ..., "bodies": ...}."""
    parsed: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("["):
            current = parsed.setdefault(line.strip("[]"), {"subjects": [], "bodies": []})
        elif line.startswith("= "):
            current["subjects"] += [s.strip() for s in line[2:].split(" | ")]
        elif line.strip():
            current["bodies"].append(line.strip())
    return {k: {part: tuple(v) for part, v in d.items()} for k, d in parsed.items()}


TEMPLATES = _parse_templates(_TEMPLATE_TEXT)
GREETINGS = (
    "Hi,",
    "Hello,",
    "Hello team,",
    "Dear Support,",
    "Hi there,",
    "Good morning,",
    "Hey,",
    "Dear Northwind Goods team,",
    "Hello Northwind,",
    "To whom it may concern,",
)
CLOSERS = (
    "Thanks in advance.",
    "Any help appreciated!",
    "Please let me know as soon as possible.",
    "Can someone get back to me today?",
    "Order number is {order}.",
    "This is the second time I'm writing about this.",
    "Could you look into it please?",
    "What are my options?",
    "Thank you for your help.",
    "I'd appreciate a quick reply.",
)
SIGNOFFS = (
    "Thanks,\n{first}",
    "Thank you!\n{first} {last}",
    "Regards,\n{first} {last}",
    "Best,\n{first}",
    "Cheers,\n{first}",
    "{first}",
    "Sent from my iPhone",
    "Kind regards,\n{first} {last}\n{phone}",
    "--\n{first} {last}\nPhone: {phone}\nEmail: {email}",
    "Thanks\n{first}\n\nSent from my Android phone",
    "Many thanks,\n{first} {last}",
)
CONTACT_LINES = (
    "You can reach me on {phone}.",
    "My email is {email} if you need it.",
    "Please call me back on {phone}.",
    "Reply to {email}, not the old address.",
)
PHONE_FORMATS = ("+1 {a} 555 01{b:02d}", "({a}) 555-01{b:02d}", "+1-{a}-555-01{b:02d}")
TEST_CARDS = (
    "4111 1111 1111 1111",
    "4242 4242 4242 4242",
    "5555 5555 5555 4444",
    "4000 0566 5566 5556",
)
REPLY_LINES = (
    "Thank you for contacting Northwind Goods.",
    "We're sorry to hear about the trouble with your order.",
    "Could you please send us your order number and a photo of the item?",
    "We have passed your request on to our logistics team.",
    "Your case has been escalated and we will update you within 48 hours.",
    "Please let us know if there is anything else we can do.",
)
FIRST_NAMES = (
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Mason",
    "Isabella",
    "Lucas",
    "Mia",
    "James",
    "Amelia",
    "Daniel",
    "Harper",
    "Mateo",
    "Chloe",
    "Ryan",
    "Priya",
    "Arjun",
    "Mei",
    "Kenji",
    "Fatima",
    "Omar",
    "Sofia",
    "Diego",
    "Hannah",
    "Jonas",
    "Grace",
    "Samuel",
    "Zoe",
    "Aisha",
    "Leo",
    "Nora",
    "Ivan",
    "Julia",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Lee",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Schmidt",
    "Novak",
    "Rossi",
    "Okafor",
    "Haddad",
    "Kowalski",
    "Fischer",
    "Silva",
    "Brennan",
    "Larsen",
    "Ito",
    "Walker",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 5, 4, 4, 4, 3, 2, 1.5)
_SIMPLE_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "order": lambda r: (
        f"NW-{r.randint(100000, 999999)}" if r.random() < 0.8 else f"#{r.randint(1000000, 9999999)}"
    ),
    "amount": lambda r: f"${r.randint(5, 400)}.{r.choice(('00', '49', '95', '99'))}",
    "days": lambda r: str(r.randint(3, 30)),
    "code": lambda r: (
        r.choice(("SPRING", "WELCOME", "SAVE", "FLASH", "VIP", "BACK2SCHOOL"))
        + str(r.choice((10, 15, 20, 25)))
    ),
    "card4": lambda r: f"{r.randint(0, 9999):04d}",
    "city": lambda r: r.choice(
        (
            "Springfield",
            "Riverside",
            "Fairview",
            "Madison",
            "Georgetown",
            "Franklin",
            "Salem",
            "Greenville",
            "Bristol",
            "Oakdale",
        )
    ),
    "device": lambda r: r.choice(
        (
            "iPhone 15",
            "iPhone 13 mini",
            "Pixel 8",
            "Galaxy S24",
            "OnePlus 12",
            "iPad Air",
            "Windows 11 laptop",
            "MacBook Pro",
        )
    ),
    "version": lambda r: f"{r.randint(4, 6)}.{r.randint(0, 12)}.{r.randint(0, 9)}",
    "spec": lambda r: r.choice(
        (
            "Wi-Fi 6",
            "Wi-Fi 6E",
            "USB-C PD 65W",
            "Bluetooth 5.3",
            "HDMI 2.1",
            "Thunderbolt 4",
            "aptX Adaptive",
            "Matter over Thread",
            "DisplayPort 1.4",
        )
    ),
    "slot": lambda r: r.choice(
        (
            "Saturday morning",
            "Sunday afternoon",
            "a weekday after 6pm",
            "Saturday between 9 and 12",
            "an evening after 7pm",
            "early morning before 8am",
        )
    ),
    "school": lambda r: r.choice(
        (
            "Lakeside University",
            "Northbridge College",
            "Westfield State University",
            "Riverside Community College",
            "Hillcrest Institute of Technology",
        )
    ),
    "competitor": lambda r: r.choice(
        ("MegaMart Online", "ShopRight", "BargainHub", "ValueCart", "PriceCo")
    ),
}


def issue_distribution(persona_key: str | None = None) -> dict[str, float]:
    """Return the true issue probabilities of a ticket.

    Args:
        persona_key: A planted persona's key, or None for general/anonymous tickets.

    Returns:
        Issue key to probability (sums to 1).
    """
    total = sum(BASE_RATES.values())
    base = {k: v / total for k, v in BASE_RATES.items()}
    if persona_key is None or persona_key == "general":
        return base
    persona = next(p for p in PERSONAS if p.key == persona_key)
    probs = {k: (1.0 - PLANTED_MASS) * v for k, v in base.items()}
    for issue in persona.planted_issues:
        probs[issue] += PLANTED_MASS / len(persona.planted_issues)
    return probs


def planted_links() -> frozenset[tuple[str, str]]:
    """Return the planted (persona name, issue key) pairs."""
    return frozenset((p.name, i) for p in PERSONAS for i in p.planted_issues)


def persona_matches(c: dict[str, Any]) -> set[str]:
    """Return the keys of the persona rules a customer record satisfies (Python mirror)."""
    hits = set()
    if c["household"] == "family with children" and c["work_status"] == "full-time":
        hits.add("busy_parent")
    if 22 <= c["age"] <= 35 and c["occupation"] in TECH_OCCUPATIONS:
        hits.add("tech_pro")
    if c["occupation"] == "student" and c["plan"] == "free":
        hits.add("budget_student")
    if c["returns_12m"] >= 6 and 10 * c["returns_12m"] >= 4 * c["orders_12m"]:
        hits.add("serial_returner")
    return hits


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


def _draft_customer(rng: random.Random, group: str) -> dict[str, Any]:
    """Draw one customer's attributes for a group (may still need a rule check)."""
    r = rng.random()
    occupation = rng.choice(OCCUPATIONS)
    age = rng.randint(24, 64)
    household = rng.choice(HOUSEHOLDS)
    work = _pick(rng, {"full-time": 6, "part-time": 2.5, "self-employed": 1.5})
    plan = _pick(rng, {"free": 4, "standard": 4, "premium": 2})
    channel = _pick(rng, {"email": 3.5, "phone": 2, "web": 2.5, "chat": 2})
    orders = min(60, int(rng.expovariate(1 / 7)))
    returns = int(orders * rng.uniform(0, 0.25))
    first_year = 2018
    if group == "busy_parent":
        household, work, age = "family with children", "full-time", rng.randint(27, 52)
        plan = _pick(rng, {"free": 1.5, "standard": 5, "premium": 3.5})
        channel = _pick(rng, {"chat": 3.5, "email": 3, "web": 2, "phone": 1.5})
        orders, returns = rng.randint(8, 30), rng.randint(0, 3)
    elif group == "tech_pro":
        occupation, age = rng.choice(TECH_OCCUPATIONS), rng.randint(22, 35)
        household = rng.choice(("single", "couple", "shared flat"))
        work = _pick(rng, {"full-time": 8, "self-employed": 2})
        plan = _pick(rng, {"free": 1, "standard": 3.5, "premium": 5.5})
        channel = _pick(rng, {"chat": 4.5, "web": 3.5, "email": 1.5, "phone": 0.5})
        orders, returns, first_year = rng.randint(6, 35), rng.randint(0, 3), 2020
    elif group == "budget_student":
        occupation, plan, age = "student", "free", rng.randint(18, 26)
        household = rng.choice(("shared flat", "living with parents", "single"))
        work = _pick(rng, {"student": 7, "part-time": 3})
        channel = _pick(rng, {"chat": 4, "web": 3.5, "email": 2, "phone": 0.5})
        orders, returns, first_year = rng.randint(1, 12), rng.randint(0, 2), 2022
    elif group == "serial_returner":
        channel = _pick(rng, {"phone": 3.5, "email": 3.5, "chat": 1.5, "web": 1.5})
        orders = rng.randint(10, 35)
        returns = max(6, math.ceil(orders * rng.uniform(0.45, 0.85)))
    elif r < 0.06:  # general near miss: student on a paid plan
        occupation, age = "student", rng.randint(18, 29)
        work = _pick(rng, {"student": 7, "part-time": 3})
        plan = rng.choice(("standard", "premium"))
    elif r < 0.11:  # tech occupation but older (or very young)
        occupation = rng.choice(TECH_OCCUPATIONS)
        age = rng.randint(36, 60) if rng.random() < 0.85 else rng.randint(19, 21)
    elif r < 0.19:  # parent working part-time or self-employed
        household, work = "family with children", rng.choice(("part-time", "self-employed"))
    elif r < 0.25:  # frequent buyer with many (but not too many) returns
        orders = rng.randint(8, 40)
        returns = rng.randint(2, 5) if rng.random() < 0.5 else int(orders * rng.uniform(0.15, 0.37))
    elif r < 0.35:  # retired
        occupation, work, age = "retired", "retired", rng.randint(60, 86)
        household = rng.choice(("single", "couple"))
    if work == "student" and group == "general" and occupation != "student":
        work = "part-time"
    signup = date(first_year, 1, 1) + timedelta(
        days=rng.randrange(
            (WINDOW_END.date() - timedelta(days=WINDOW_DAYS + 1) - date(first_year, 1, 1)).days
        )
    )
    return {
        "age": age,
        "occupation": occupation,
        "household": household,
        "work_status": work,
        "plan": plan,
        "region": rng.choice(REGIONS),
        "channel_preference": channel,
        "signup_date": signup.isoformat(),
        "orders_12m": orders,
        "returns_12m": returns,
    }


def _make_customers(rng: random.Random, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Draw ``n`` customers; return records and each one's group key."""
    groups = [k for k, share in PERSONA_SHARES.items() for _ in range(round(n * share))]
    groups = (groups + ["general"] * n)[:n]
    rng.shuffle(groups)
    width = max(5, len(str(n)))
    customers = []
    for i, group in enumerate(groups):
        want = set() if group == "general" else {group}
        while True:
            c = _draft_customer(rng, group)
            if persona_matches(c) == want:
                break
        customers.append({"customer_id": f"C{i + 1:0{width}d}", **c})
    return customers, groups


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


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
        return self.rng.choice(PRODUCTS[_pick(self.rng, self.cats)])

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "product":
            value = self._product()
        elif key == "product2":
            value = self._product()
            while value == self["product"]:
                value = rng.choice(PRODUCTS[rng.choice(tuple(PRODUCTS))])
        elif key == "date":
            value = _fmt_date(rng, self.created.date() - timedelta(days=rng.randint(1, 25)))
        else:
            value = _SIMPLE_SLOTS[key](rng)
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
        *rng.sample(REPLY_LINES, 2),
        "",
        "Kind regards,",
        "Northwind Support",
    ]
    if rng.random() < 0.6:
        header = (
            f"On {WEEKDAYS[when.weekday()][:3]}, {when.day} {MONTHS[when.month - 1][:3]} "
            f"{when.year} at {when:%H:%M}, Northwind Support <{SUPPORT_ADDRESS}> wrote:"
        )
        return header, ["> " + line if line else ">" for line in lines]
    header = (
        f"-----Original Message-----\nFrom: Northwind Support <{SUPPORT_ADDRESS}>\n"
        f"Sent: {WEEKDAYS[when.weekday()]}, {MONTHS[when.month - 1]} {when.day}, "
        f"{when.year} {when:%I:%M %p}\nTo: {person['email']}\nSubject: RE: {subject}\n"
    )
    return header, lines


def _person(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = rng.choice(("example.com", "example.net"))
    sep = rng.choice((".", "_", ""))
    email = f"{first.lower()}{sep}{last.lower()}{rng.randint(1, 99)}@{domain}"
    phone = rng.choice(PHONE_FORMATS).format(a=rng.randint(201, 989), b=rng.randrange(100))
    return {"first": first, "last": last, "email": email, "phone": phone}


def _render(
    rng: random.Random,
    issue: str,
    channel: str,
    created: datetime,
    person: dict[str, str],
    cats: dict[str, float],
) -> tuple[str, str]:
    """Render one ticket's (subject, body)."""
    slots = _Slots(
        rng,
        created,
        {c: 1.0 for c in _ISSUE_CATEGORIES[issue]} if issue in _ISSUE_CATEGORIES else cats,
    )
    tpl = TEMPLATES[issue]
    subject = rng.choice(tpl["subjects"]).format_map(slots)
    core = rng.choice(tpl["bodies"]).format_map(slots)
    if rng.random() < 0.35:
        closer = rng.choice(CLOSERS)
        if "{order}" not in closer or "order" not in slots:
            core += " " + closer.format_map(slots)
    if issue in ("payment_failed", "refund_delay") and rng.random() < 0.06:
        expiry = f"{rng.randint(1, 12):02d}/{rng.randint(27, 31)}"
        core += f" The card number is {rng.choice(TEST_CARDS)}, expiry {expiry}."
    if rng.random() < TYPO_RATE:
        core = _typos(rng, core, rng.randint(1, 3))
    if rng.random() < LOWERCASE_RATE:
        core = core.lower()
    paragraphs = [rng.choice(GREETINGS)] if rng.random() < 0.7 else []
    paragraphs.append(core)
    if rng.random() < 0.1:
        paragraphs.append(rng.choice(CONTACT_LINES).format_map(person))
    signature = rng.choice(SIGNOFFS).format_map(person) if rng.random() < 0.75 else ""
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


def _tickets(
    seed: int, customers: list[dict[str, Any]], groups: list[str], people: list[dict[str, str]]
) -> tuple[int, Iterator[list[tuple[Any, ...]]]]:
    """Plan all tickets; return the count and a generator of row batches."""
    rng = random.Random(f"persona-mining-demo:{seed}:tickets")
    cum = {
        g: (list(accumulate(d.values())), list(d))
        for g in TICKETS_PER_CUSTOMER
        for d in [issue_distribution(g)]
    }
    hours = list(accumulate(_HOUR_WEIGHTS))
    plan: list[tuple[int, int, str, str, int]] = []

    def add(idx: int, group: str, channel: str) -> None:
        weights, keys = cum[group]
        issue = keys[min(bisect_right(weights, rng.random() * weights[-1]), len(keys) - 1)]
        hour = bisect_right(hours, rng.random() * hours[-1])
        start = rng.randrange(WINDOW_DAYS) * 86400 + hour * 3600 + rng.randrange(3600)
        delay = int(rng.expovariate(1 / 64800)) + rng.randint(60, 3600)  # mean about 18 h
        plan.append((start, idx, issue, channel, delay))

    for idx, (c, group) in enumerate(zip(customers, groups, strict=True)):
        pref = c["channel_preference"]
        for _ in range(_poisson(rng, TICKETS_PER_CUSTOMER[group])):
            keep = rng.random() < PREFERRED_CHANNEL_SHARE
            add(idx, group, pref if keep else rng.choice(CHANNELS))
    for _ in range(round(len(plan) * ANONYMOUS_SHARE / (1 - ANONYMOUS_SHARE))):
        add(-1, "general", _pick(rng, {"web": 5, "email": 4, "chat": 1}))
    plan.sort()
    width = max(6, len(str(len(plan))))
    start_dt = WINDOW_END - timedelta(days=WINDOW_DAYS)
    end_dt = WINDOW_END - timedelta(seconds=1)
    cats = {g: _CATEGORY_WEIGHTS.get(g, {c: 1.0 for c in PRODUCTS}) for g in TICKETS_PER_CUSTOMER}

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        text_rng = random.Random(f"persona-mining-demo:{seed}:text")
        batch: list[tuple[Any, ...]] = []
        for n, (start, idx, issue, channel, delay) in enumerate(plan, 1):
            created = start_dt + timedelta(seconds=start)
            updated = min(created + timedelta(seconds=delay), end_dt)
            person = people[idx] if idx >= 0 else _person(text_rng)
            subject, body = _render(
                text_rng,
                issue,
                channel,
                created,
                person,
                cats[groups[idx] if idx >= 0 else "general"],
            )
            batch.append(
                (
                    f"T{n:0{width}d}",
                    customers[idx]["customer_id"] if idx >= 0 else None,
                    created.isoformat(),
                    updated.isoformat(),
                    channel,
                    subject,
                    body,
                    issue,
                )
            )
            if len(batch) >= 50_000:
                yield batch
                batch = []
        if batch:
            yield batch

    return len(plan), batches()


def _write(
    path: Path,
    fmt: str,
    columns: Sequence[str],
    batches: Iterable[list[tuple[Any, ...]]],
    types: dict[str, str],
) -> None:
    """Write row batches as csv, jsonl or parquet (``types``: column -> int/date/timestamp)."""
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            for batch in batches:
                writer.writerows(batch)
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for batch in batches:
                f.writelines(
                    json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n"
                    for row in batch
                )
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = {"int": pa.int64(), "date": pa.date32(), "timestamp": pa.timestamp("s")}
        schema = pa.schema([(c, arrow.get(types.get(c, ""), pa.string())) for c in columns])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                arrays = []
                for i, col in enumerate(columns):
                    kind = types.get(col)
                    values = pa.array(
                        [row[i] for row in batch], pa.int64() if kind == "int" else pa.string()
                    )
                    if kind in ("date", "timestamp"):
                        values = values.cast(schema.field(col).type)
                    arrays.append(values)
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings


def generate_demo(
    out_dir: Path, *, seed: int = 7, n_customers: int = 1500, fmt: str = "csv"
) -> DemoResult:
    """Generate the demo data set into ``out_dir``.

    Args:
        out_dir: Output directory (created if missing).
        seed: Random seed; the same seed, size and format give byte-identical files.
        n_customers: Number of customers (about 3.6 tickets each on average).
        fmt: "csv", "jsonl" or "parquet".

    Returns:
        The written paths and sizes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    if n_customers < 1:
        raise ValueError("n_customers must be positive")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    customers, groups = _make_customers(
        random.Random(f"persona-mining-demo:{seed}:customers"), n_customers
    )
    people_rng = random.Random(f"persona-mining-demo:{seed}:people")
    people = [_person(people_rng) for _ in customers]
    n_tickets, batches = _tickets(seed, customers, groups, people)
    customers_path, tickets_path = out_dir / f"customers.{fmt}", out_dir / f"tickets.{fmt}"
    _write(
        customers_path,
        fmt,
        CUSTOMER_COLUMNS,
        [[tuple(c[k] for k in CUSTOMER_COLUMNS) for c in customers]],
        {"age": "int", "orders_12m": "int", "returns_12m": "int", "signup_date": "date"},
    )
    _write(
        tickets_path,
        fmt,
        TICKET_COLUMNS,
        batches,
        {"created_at": "timestamp", "updated_at": "timestamp"},
    )

    config_path = out_dir / "persona-mining.toml"
    lines = ["# Demo configuration written by persona-mining's demo generator.", ""]
    for p in PERSONAS:
        lines += [
            "[[personas]]",
            f"name = {_toml_str(p.name)}",
            f"where = {_toml_str(p.rule)}",
            f"description = {_toml_str(p.description)}",
        ]
        lines += ["negative = true", ""] if p.negative else [""]
    config_path.write_text("\n".join(lines), encoding="utf-8")

    counts = {g: groups.count(g) for g in TICKETS_PER_CUSTOMER}
    plan = {
        "company": COMPANY,
        "seed": seed,
        "format": fmt,
        "n_customers": n_customers,
        "n_tickets": n_tickets,
        "customer_counts": counts,
        "window": {
            "start": (WINDOW_END - timedelta(days=WINDOW_DAYS)).isoformat(),
            "end_exclusive": WINDOW_END.isoformat(),
        },
        "files": {
            "customers": customers_path.name,
            "tickets": tickets_path.name,
            "config": config_path.name,
        },
        "personas": [
            {
                "key": p.key,
                "name": p.name,
                "rule": p.rule,
                "description": p.description,
                "negative": p.negative,
                "planted_issues": list(p.planted_issues),
                "n_customers": counts[p.key],
            }
            for p in PERSONAS
        ],
        "issues": ISSUES,
        "base_rates": BASE_RATES,
        "planted_mass": PLANTED_MASS,
        "planted_links": sorted([list(link) for link in planted_links()]),
        "persona_shares": PERSONA_SHARES,
        "tickets_per_customer": TICKETS_PER_CUSTOMER,
        "rates": {
            "anonymous": ANONYMOUS_SHARE,
            "preferred_channel": PREFERRED_CHANNEL_SHARE,
            "html_of_email_web": HTML_RATE,
            "quote_of_email_web": QUOTE_RATE,
            "typo": TYPO_RATE,
            "lowercase": LOWERCASE_RATE,
        },
    }
    plan_path = out_dir / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return DemoResult(customers_path, tickets_path, config_path, plan_path, n_customers, n_tickets)
