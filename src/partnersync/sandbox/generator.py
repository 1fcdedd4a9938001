"""Deterministic, seeded generator of a realistic dataset for both services.

The same (size, seed, generation time) always gives the same dataset. The first records of each
kind cycle through every variant a sync must cope with (tiers, group-name spellings, NPCU values,
expiry kinds, malformed records), so even `tiny` contains all of them.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from partnersync.sandbox import names
from partnersync.sandbox.data import (
    Account,
    Clock,
    Course,
    Dataset,
    Group,
    Membership,
    Person,
    Region,
    TranscriptItem,
    User,
    slug,
    utc_now,
)
from partnersync.sandbox.impartner_schema import MAILING
from partnersync.sandbox.northpass_schema import ACADEMY, CDN

T = TypeVar("T")


@dataclass(frozen=True)
class Every:
    """Every `period`-th record from `offset` on: how an edge case is planted, named below."""

    period: int
    offset: int = 0

    def __call__(self, index: int) -> bool:
        return index % self.period == self.offset


INACTIVE_ACCOUNT = Every(13, 5)
"""Accounts with status Inactive (kept, not an active partner)."""
GROUP_NAMED_ON_ACCOUNT = Every(3)
"""Accounts that carry their LMS group's name and id in custom fields."""
NEVER_ACTIVATED = Every(9, 4)
"""People who were invited and never signed in (no `last_active_at`)."""
DISABLED_PERSON = Every(31, 12)
UNSUBSCRIBED_PERSON = Every(19, 3)
IN_UNRELATED_GROUP = Every(10, 3)
"""Non-partner people who are members of an unrelated group."""
ARCHIVED_WITHOUT_PROPERTIES = Every(2)
"""Archived courses whose properties answer 403."""
WITH_LEARNING_PATH = Every(4)
"""Partner people whose transcript also holds a learning path (not a course)."""
WITHOUT_ENROLLMENTS = 5
"""The partner person (by index) whose transcript holds no course at all."""
WITH_AVATAR = Every(6, 1)
"""Activated people who uploaded an avatar of their own."""
UNPUBLISHED_CHANGES = Every(6, 1)
"""Courses with edits not yet published (drafts always have them)."""
WITHOUT_IMAGE = Every(5, 2)
WITHOUT_DESCRIPTION = Every(9, 4)
RETAKEN = Every(11, 6)
"""Transcript items on a second attempt."""
ON_FIRST_VERSION = Every(4, 1)
"""Transcript items taken on the first version of a course (the others on the second)."""
LEFT_CONTACT = 1
"""Which partner person (by index, among those who are an active partner's contact) left: the
contact is deactivated in Impartner, the person is still in the partner's groups."""
TWO_PARTNERS = 2
"""Which partner person (the same way) is also a contact, and a group member, of a second
partner: an unused colleague's Impartner user there takes over the person's address."""
ERP_LINKED = Every(4, 1)
"""Accounts that also carry an ERP id (`ExternalId1`)."""
NEW_COURSE_DAYS = 90
"""Courses younger than this carry the ribbon "New"."""
FEATURED_TIERS = ("Premier", "Premier Plus")

TIERS = ("Premier", "Premier Plus", "Certified", "Registered", "Aggregator", "Pending")
TIER_WEIGHTS = (12, 5, 25, 40, 3, 10)
PARTNER_TYPES = (
    "Reseller",
    "Managed Service Provider",
    "Technology",
    "Referral",
    "Distributor",
    "System Integrator",
)
GROUP_NAME_VARIANTS = (
    "exact",
    "ptr",
    "upper",
    "lower",
    "no_suffix",
    "other_suffix",
    "punctuation",
    "ptr_upper",
    "padded",
)
GROUP_NAME_WEIGHTS = (50, 20, 4, 4, 8, 4, 6, 2, 2)
NPCU_VARIANTS: tuple[Any, ...] = (0, 1, 2, "abc", 7, None, "1")  # None: property missing
EXPIRY_KINDS = ("past", "future", "none")
CERT_CATEGORIES = {"K2": "K2", "RPA": "RPA", "Automation Cloud": "Automation Cloud"}
ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
ALL_PARTNERS = "All Partners"
UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
MALFORMED_DATE = "not-a-date"


@dataclass(frozen=True)
class Size:
    people: int
    accounts: int
    impartner_users: int
    groups: int  # partner groups + unrelated groups + "All Partners"
    unrelated_groups: int
    courses: int
    partner_people: int
    items_per_partner_person: int  # average transcript items
    learning_paths: int
    orphans: int  # on a partner's email domain but in no partner group


SIZES = {
    "tiny": Size(48, 8, 40, 10, 2, 10, 20, 4, 2, 3),
    "demo": Size(2_000, 120, 2_400, 110, 10, 60, 400, 6, 6, 30),
    "reference": Size(33_000, 2_000, 40_000, 1_600, 120, 450, 4_500, 6, 20, 250),
}


def generate(size: str | Size, seed: int, clock: Clock = utc_now) -> Dataset:
    """Builds the dataset for a named size (`tiny`, `demo`, `reference`) or an explicit Size."""
    spec = SIZES[size] if isinstance(size, str) else size
    return _Generator(spec, seed, clock).run()


def variant(
    rng: random.Random, index: int, options: tuple[T, ...], weights: tuple[int, ...] | None = None
) -> T:
    """Cycles through every option first, then draws by weight."""
    if index < len(options):
        return options[index]
    return rng.choices(options, weights)[0]


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


class _Generator:
    def __init__(self, spec: Size, seed: int, clock: Clock) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        # Attributes added to the records later draw from their own generator, so the values
        # drawn before (and every test written against them) stay as they were.
        self.details = random.Random(f"details-{seed}")
        self.now = clock()
        self.ds = Dataset(clock=clock, seed=seed)
        self.emails: set[str] = set()
        self.folded_first = {n: ascii_fold(n) for n in names.FIRST_NAMES}
        self.folded_last = {n: ascii_fold(n) for n in names.LAST_NAMES}
        self.domains: dict[int, str] = {}  # account id → email domain
        self.account_base: dict[int, tuple[str, str]] = {}  # account id → (base, suffix)
        self.contacts: dict[int, list[User]] = {}  # account id → users not yet used as people
        self.partner_people: list[str] = []
        self.contact_of: dict[str, User] = {}  # partner person id → the user it was made from

    def run(self) -> Dataset:
        self.regions()
        self.accounts()
        self.users()
        group_of = self.groups()
        self.people(group_of)
        self.access_history(group_of)
        self.courses()
        self.transcripts()
        self.deleted_history()
        return self.ds

    # --- helpers ----------------------------------------------------------------------------

    def uuid(self) -> str:
        """A uuid4 from the seeded generator (formatted by hand: uuid.UUID is slow)."""
        bits = self.rng.getrandbits(128) & UUID4_CLEAR | UUID4_SET
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def ago(self, max_days: float, min_days: float = 0) -> datetime:
        seconds = min_days * 86400 + self.rng.random() * (max_days - min_days) * 86400
        return self.now - timedelta(seconds=int(seconds))

    def between(self, start: datetime, end: datetime, rng: random.Random | None = None) -> datetime:
        span = max((end - start).total_seconds(), 0)
        return start + timedelta(seconds=int((rng or self.rng).random() * span))

    def phone(self) -> str:
        return f"+1 555 {self.details.randint(1000000, 9999999)}"

    def crm_id(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choices(ALPHANUMERIC, k=15))

    def person_name(self) -> tuple[str, str]:
        return self.rng.choice(names.FIRST_NAMES), self.rng.choice(names.LAST_NAMES)

    def email(self, first: str, last: str, domain: str) -> str:
        local = f"{self.folded_first[first] or 'user'}.{self.folded_last[last] or 'user'}"
        candidate = f"{local}@{domain}"
        number = 1
        while candidate in self.emails:
            number += 1
            candidate = f"{local}{number}@{domain}"
        self.emails.add(candidate)
        return candidate

    def company(self, taken: set[str]) -> str:
        while True:
            base = f"{self.rng.choice(names.COMPANY_FIRST)} {self.rng.choice(names.COMPANY_SECOND)}"
            if base.lower() not in taken:
                taken.add(base.lower())
                return base

    # --- Impartner --------------------------------------------------------------------------

    def regions(self) -> None:
        created = self.now - timedelta(days=2000)
        for number, name in enumerate(names.REGIONS, start=1):
            self.ds.regions[number] = Region(number, name, created, created)

    def accounts(self) -> None:
        taken: set[str] = set()
        domains: set[str] = set()
        count = self.spec.accounts
        owners = [self.channel_manager() for _ in range(max(2, count // 25))]
        for i in range(count):
            account_id = 100_001 + i
            base = self.company(taken)
            suffix = variant(self.rng, i, names.LEGAL_SUFFIXES + ("",) * 6)
            domain = f"{slug(base).replace('-', '')}.{self.rng.choice(names.TLDS)}"
            while domain in domains:
                label, tld = domain.split(".", 1)
                domain = f"{label}{self.rng.randint(2, 99)}.{tld}"
            domains.add(domain)
            self.domains[account_id] = domain
            self.account_base[account_id] = (base, suffix)
            inactive = INACTIVE_ACCOUNT(i)
            created = self.ago(2500, 30)
            city, country, *place = self.rng.choice(names.CITIES)
            certified = self.rng.random() < 0.6
            self.ds.accounts[account_id] = Account(
                Id=account_id,
                Name=None if i == count - 1 else f"{base} {suffix}".strip(),
                Created=created,
                Updated=self.between(created, self.now),
                CrmId=self.crm_id("001") if self.rng.random() < 0.95 else None,
                IsActive=not inactive,
                Partner_Tier__cf=variant(self.rng, i, TIERS, TIER_WEIGHTS),
                Partner_Type__cf=self.rng.choice(PARTNER_TYPES),
                Account_Status__cf="Inactive" if inactive else "Active",
                Website=f"https://www.{domain}/",
                MailingCity=city,
                MailingCountry=country,
                Region=self.rng.randint(1, len(names.REGIONS)),
                Certification_Count__cf=self.rng.randint(0, 30) if certified else None,
                Total_NPCU__cf=float(self.rng.randint(0, 50)) if certified else None,
            )
            self.account_details(self.ds.accounts[account_id], i, place, owners)
        ids = list(self.ds.accounts)
        for child in ids[3::17]:  # a few subsidiaries
            self.ds.accounts[child].ParentAccount = ids[0]

    def channel_manager(self) -> tuple[str, str]:
        """A vendor employee who owns partner accounts: name and email."""
        first = self.details.choice(names.FIRST_NAMES)
        last = self.details.choice(names.LAST_NAMES)
        local = f"{self.folded_first[first] or 'owner'}.{self.folded_last[last] or 'owner'}"
        return f"{first} {last}", f"{local}@{names.VENDOR_DOMAIN}"

    def account_details(
        self, account: Account, index: int, place: list[Any], owners: list[tuple[str, str]]
    ) -> None:
        """Address, phone, owner and CRM bookkeeping of an account."""
        rng = self.details
        code, state, latitude, longitude = place
        account.Phone = self.phone()
        account.MailingStreet = f"{rng.randint(1, 400)} {rng.choice(names.STREETS)}"
        account.MailingSuite = f"Suite {rng.randint(100, 999)}" if rng.random() < 0.3 else None
        account.MailingState = state
        account.MailingPostalCode = f"{rng.randint(1000, 99999):05d}"
        account.MailingCountryCode = code
        account.MailingLatitude = round(latitude + rng.uniform(-0.05, 0.05), 6)
        account.MailingLongitude = round(longitude + rng.uniform(-0.05, 0.05), 6)
        account.IsFeatured = account.Partner_Tier__cf in FEATURED_TIERS
        account.Account_Owner__cf, account.Account_Owner_Email__cf = rng.choice(owners)
        if ERP_LINKED(index):
            account.ExternalId1 = f"ERP-{rng.randint(10000, 99999)}"
        if account.CrmId:
            imported = self.between(account.Created, account.Updated, rng)
            account.CrmLastImported = imported
            account.CrmLastKnownDateUpdated = self.between(account.Created, imported, rng)

    def users(self) -> None:
        account_ids = list(self.ds.accounts)
        weights = [self.rng.paretovariate(1.3) for _ in account_ids]
        owners = self.rng.choices(account_ids, weights, k=self.spec.impartner_users)
        for i, owner in enumerate(owners):
            user_id = 2_000_001 + i
            first, last = self.person_name()
            account_id: int | None = owner if i % 50 != 7 else None
            domain = self.domains[owner] if account_id else self.rng.choice(names.PUBLIC_DOMAINS)
            email = self.email(first, last, domain)
            active = self.rng.random() < 0.9
            created = self.ago(2000, 1)
            user = User(
                Id=user_id,
                Email=email,
                UserName=email,
                FirstName=first,
                LastName=last,
                Title=self.rng.choice(names.TITLES),
                Phone=f"+1 555 {self.rng.randint(1000000, 9999999)}" if i % 3 else None,
                IsActive=active,
                Account=account_id,
                Contact_Status__cf="Active" if active else "Inactive",
                CrmId=self.crm_id("003"),
                Created=created,
                Updated=self.between(created, self.now),
            )
            self.ds.users[user_id] = user
            if self.details.random() < 0.4:
                user.Mobile = self.phone()
            if active and self.details.random() < 0.85:
                user.LastLoginTimeStamp = self.between(created, self.now, self.details)
            if account_id is not None:
                account = self.ds.accounts[account_id]
                user.Region = account.Region
                for name, _ in MAILING:  # the office's address
                    setattr(user, name, getattr(account, name))
                account.MemberCount += 1
                if account.PrimaryUser is None:
                    account.PrimaryUser = user_id
                self.contacts.setdefault(account_id, []).append(user)

    def deleted_history(self) -> None:
        """Records deleted some days ago, so `_deleted` has something to report."""
        for entity, table in (("Account", self.ds.accounts), ("User", self.ds.users)):
            first_free = max(table) + 1
            for offset in range(max(2, len(table) // 200)):
                self.ds.deleted[entity][first_free + offset] = self.ago(30, 1)

    # --- Northpass --------------------------------------------------------------------------

    def group_name(self, account_id: int, kind: str) -> str:
        base, suffix = self.account_base[account_id]
        name = self.ds.accounts[account_id].Name or base
        if kind == "ptr":
            return f"ptr_{name}"
        if kind == "ptr_upper":
            return f"PTR_{name}"
        if kind == "upper":
            return name.upper()
        if kind == "lower":
            return name.lower()
        if kind == "no_suffix":
            return base
        if kind == "other_suffix":
            others = [s for s in names.LEGAL_SUFFIXES if s != suffix]
            return f"{base} {self.rng.choice(others)}"
        if kind == "punctuation":
            stripped = name.replace(".", "").replace(",", "").replace("&", "and")
            return stripped if stripped != name else f"{base}, {suffix or 'Inc.'}"
        if kind == "padded":
            return f" {name}  "
        return name

    def groups(self) -> dict[int, Group]:
        """Partner groups (named after accounts), unrelated groups and "All Partners"."""
        group_of: dict[int, Group] = {}
        partner_groups = self.spec.groups - self.spec.unrelated_groups - 1
        named = [a for a in self.ds.accounts.values() if a.Name is not None]
        for j, account in enumerate(named[:partner_groups]):
            kind = variant(self.rng, j, GROUP_NAME_VARIANTS, GROUP_NAME_WEIGHTS)
            group = self.new_group(self.group_name(account.Id, kind))
            group_of[account.Id] = group
            if GROUP_NAMED_ON_ACCOUNT(j):
                account.LMS_Group_Name__cf = group.name
                account.LMS_Account_ID__cf = group.id
                account.LMS_Training_Dashboard__cf = f"{ACADEMY}/groups/{group.id}/dashboard"
        for j in range(self.spec.unrelated_groups):
            label = names.UNRELATED_GROUPS[j % len(names.UNRELATED_GROUPS)]
            repeat = j // len(names.UNRELATED_GROUPS)
            group = self.new_group(f"{label} {repeat + 1}" if repeat else label)
            group.description = f"{label}: kept by the academy team"
        self.all_partners = self.new_group(ALL_PARTNERS)
        self.all_partners.description = "Every learner of a partner company"
        return group_of

    def new_group(self, name: str) -> Group:
        created = self.ago(1500, 2)
        group = Group(self.uuid(), name, created, self.between(created, self.now))
        self.ds.groups[group.id] = group
        self.ds.memberships[group.id] = {}
        return group

    def join(self, group: Group, person: Person) -> None:
        start = max(group.created_at, person.created_at)
        membership = Membership(self.uuid(), person.id, group.id, self.between(start, self.now))
        self.ds.memberships[group.id][person.id] = membership
        self.ds.person_groups.setdefault(person.id, set()).add(group.id)

    def new_person(self, first: str, last: str, email: str | None) -> Person:
        i = len(self.ds.people)
        created = self.ago(1800, 1)
        activated = not NEVER_ACTIVATED(i)
        disabled = DISABLED_PERSON(i)
        last_active = self.between(created, self.now) if activated else None
        person = Person(
            id=self.uuid(),
            email=email,
            first_name=first,
            last_name=last,
            full_name=f"{first} {last}",
            disabled=disabled,
            unsubscribed=UNSUBSCRIBED_PERSON(i),
            registration_status="activated" if activated else "invited",
            activated_at=self.between(created, last_active) if last_active else None,
            created_at=created,
            updated_at=self.between(created, self.now),
            last_active_at=last_active,
            deactivated_at=self.between(created, self.now) if disabled else None,
        )
        if activated and WITH_AVATAR(i):
            person.custom_avatar_url = f"{CDN}/avatars/{person.id}.jpg"
        self.ds.people[person.id] = person
        return person

    def partner_email(self, account_id: int) -> tuple[str, str, str, User | None]:
        """A contact's name and email (sometimes spelled differently) and the contact, or a
        new colleague's (no contact)."""
        unused = self.contacts.get(account_id)
        if unused and self.rng.random() < 0.75:
            user = unused.pop()
            email = user.Email
            if self.rng.random() < 0.05:
                email = email.capitalize()
            return user.FirstName, user.LastName, email, user
        first, last = self.person_name()
        return first, last, self.email(first, last, self.domains[account_id]), None

    def people(self, group_of: dict[int, Group]) -> None:
        grouped = list(group_of)
        weights = [self.ds.accounts[a].MemberCount + 1 for a in grouped]
        for i, account_id in enumerate(
            self.rng.choices(grouped, weights, k=self.spec.partner_people)
        ):
            *who, contact = self.partner_email(account_id)
            person = self.new_person(*who)
            self.join(group_of[account_id], person)
            if i % 10:
                self.join(self.all_partners, person)
            self.partner_people.append(person.id)
            if contact is not None:
                self.contact_of[person.id] = contact
        for account_id in self.rng.choices(grouped, k=self.spec.orphans):
            *who, _ = self.partner_email(account_id)
            person = self.new_person(*who)
            self.partner_people.append(person.id)
        partner_group_ids = {g.id for g in group_of.values()} | {self.all_partners.id}
        unrelated = [g for g in self.ds.groups.values() if g.id not in partner_group_ids]
        customer_domains = [f"{slug(self.company(set())).replace('-', '')}.com" for _ in range(50)]
        partner_domains = set(self.domains.values())
        customer_domains = [d for d in customer_domains if d not in partner_domains]
        remaining = self.spec.people - len(self.ds.people)
        for i in range(remaining):
            first, last = self.person_name()
            roll = i % 20
            if roll < 7:
                domain = self.rng.choice(names.PUBLIC_DOMAINS)
            elif roll < 9:
                domain = names.VENDOR_DOMAIN
            else:
                domain = self.rng.choice(customer_domains)
            email: str | None = self.email(first, last, domain)
            if i == 0:
                email = None
            elif i == 1:
                email = f" {email.upper()} " if email else None
            person = self.new_person(first, last, email)
            if domain == names.VENDOR_DOMAIN:  # employees sign in through the vendor's SSO
                person.sso_uid = "00u" + person.id.replace("-", "")[:17]
            if unrelated and IN_UNRELATED_GROUP(i):
                self.join(self.rng.choice(unrelated), person)
        same_second = self.now - timedelta(days=1)
        for person_id in self.partner_people[:4]:  # ties at a watermark's second
            self.ds.people[person_id].updated_at = same_second

    def access_history(self, group_of: dict[int, Group]) -> None:
        """A contact who left a partner and a person in two partners, both still in the groups
        (partners that went inactive are planted with the accounts)."""
        accounts = self.ds.accounts
        current = [
            (person_id, user)
            for person_id, user in self.contact_of.items()
            if user.IsActive and user.Account is not None and accounts[user.Account].IsActive
        ]
        if len(current) > LEFT_CONTACT:
            _, user = current[LEFT_CONTACT]
            user.IsActive, user.Contact_Status__cf = False, "Inactive"
            user.LastLoginTimeStamp = None
        if len(current) <= TWO_PARTNERS:
            return
        person_id, user = current[TWO_PARTNERS]
        spare = {  # active unused colleagues of the other active partners
            a: [u for u in self.contacts.get(a, []) if u.IsActive]
            for a in group_of
            if a != user.Account and accounts[a].IsActive
        }
        chosen = max((a for a in spare if spare[a]), key=lambda a: len(spare[a]), default=None)
        if chosen is None:
            return
        other = spare[chosen][0]
        self.contacts[chosen].remove(other)
        other.Email = other.UserName = user.Email
        other.FirstName, other.LastName = user.FirstName, user.LastName
        self.join(group_of[chosen], self.ds.people[person_id])

    def courses(self) -> None:
        titles = [f"{p}: {k}" for p in names.PRODUCTS for k in names.COURSE_KINDS]
        self.rng.shuffle(titles)
        deleted = max(1, self.spec.courses // 50)
        for i in range(self.spec.courses + deleted):
            edition = i // len(titles)
            title = titles[i % len(titles)] + (f" ({2020 + edition} edition)" if edition else "")
            certification = "Certification" in title or "Accreditation" in title
            npcu = variant(
                self.rng,
                i,
                NPCU_VARIANTS,
                (1, 1, 1, 0, 0, 0, 0) if certification else (95, 0, 0, 1, 1, 2, 1),
            )
            if certification and i >= len(NPCU_VARIANTS) and self.rng.random() < 0.97:
                npcu = self.rng.choice((1, 2))
            created = self.ago(2000, 10)
            course = Course(
                id=self.uuid(),
                name=title,
                status=variant(self.rng, i, ("live", "draft", "archived"), (85, 7, 8)),
                permalink=slug(title),
                created_at=created,
                updated_at=self.between(created, self.now),
            )
            self.describe(course, i, certification)
            properties: dict[str, Any] = {"name": title}
            if npcu is not None:
                properties["npcu"] = npcu
            if certification:
                properties["certification_category"] = next(
                    (c for key, c in CERT_CATEGORIES.items() if key in title), "CE"
                )
            self.ds.course_properties[course.id] = properties
            self.ds.enrollments[course.id] = {}
            if i >= self.spec.courses:
                self.ds.forbidden_property_ids.add(course.id)  # deleted from the catalog
                continue
            self.ds.courses[course.id] = course
            if course.status == "archived" and ARCHIVED_WITHOUT_PROPERTIES(i):
                self.ds.forbidden_property_ids.add(course.id)
        for i in range(self.spec.learning_paths):
            product = names.PRODUCTS[i % len(names.PRODUCTS)]
            self.ds.learning_paths[self.uuid()] = f"{product} Learning Path {i // 10 + 1}"

    def describe(self, course: Course, index: int, certification: bool) -> None:
        """The catalog text and image of a course, and what it depends on."""
        product, _, kind = course.name.partition(": ")
        if not WITHOUT_DESCRIPTION(index):
            course.short_description = f"{kind} for {product}."
            course.full_description = (
                f"<p>{kind} for {product}.</p><p>Lessons, hands-on exercises and a final quiz.</p>"
            )
        if not WITHOUT_IMAGE(index):
            course.list_image_url = f"{CDN}/courses/{course.permalink}.png"
        if course.created_at > self.now - timedelta(days=NEW_COURSE_DAYS):
            course.ribbon = "New"
        elif certification:
            course.ribbon = "Certification"
        course.unpublished_changes = course.status == "draft" or UNPUBLISHED_CHANGES(index)
        if certification:
            course.dependent_course_names = [f"{product}: Fundamentals"]

    def transcripts(self) -> None:
        ds = self.ds
        pool = [cid for cid, c in ds.courses.items() if c.status != "draft"]
        pool += [cid for cid in ds.course_properties if cid not in ds.courses]
        paths = list(ds.learning_paths)
        average = self.spec.items_per_partner_person
        counter = 0
        for index, person_id in enumerate(self.partner_people):
            count = 0 if index == WITHOUT_ENROLLMENTS else self.rng.randint(1, 2 * average - 1)
            for course_id in self.rng.sample(pool, min(count, len(pool))):
                self.item(person_id, course_id, counter)
                counter += 1
            if paths and WITH_LEARNING_PATH(index):
                self.item(person_id, self.rng.choice(paths), counter, learning_path=True)
                counter += 1
        partner = set(self.partner_people)
        for person_id in ds.people:
            if person_id not in partner and self.rng.random() < 0.12:
                for course_id in self.rng.sample(pool, min(self.rng.randint(1, 3), len(pool))):
                    self.item(person_id, course_id, counter)
                    counter += 1
        first = next(
            i for i in ds.transcripts[self.partner_people[0]] if i.progress_status == "completed"
        )
        first.completed_at = MALFORMED_DATE

    def item(
        self, person_id: str, resource_id: str, counter: int, learning_path: bool = False
    ) -> None:
        ds = self.ds
        person = ds.people[person_id]
        status = variant(self.rng, counter, ("completed", "in_progress", "enrolled"), (55, 25, 20))
        enrolled = self.between(person.created_at, self.now)
        started = self.between(enrolled, self.now) if status != "enrolled" else None
        completed = self.between(started, self.now) if started and status == "completed" else None
        expires = None
        npcu = ds.course_properties.get(resource_id, {}).get("npcu")
        if completed and isinstance(npcu, int) and npcu > 0:
            kind = EXPIRY_KINDS[counter % 3]
            if kind == "past":
                expires = self.ago(300, 1)
            elif kind == "future":
                expires = self.now + timedelta(days=self.rng.randint(1, 700))
        last_active = completed or started
        name = (
            ds.learning_paths[resource_id]
            if learning_path
            else ds.course_properties[resource_id]["name"]
        )
        item = TranscriptItem(
            id=self.uuid(),
            enrollment_id=self.uuid(),
            person_id=person_id,
            resource_id=resource_id,
            resource_type="learning_path" if learning_path else "course",
            name=name,
            progress_status=status,
            progress={"completed": 100, "in_progress": self.rng.randint(5, 95)}.get(status, 0),
            enrolled_at=enrolled,
            started_at=started,
            completed_at=completed,
            last_active_at=last_active,
            expires_at=expires,
            updated_at=last_active or enrolled,
            attempt_number=2 if RETAKEN(counter) and status != "enrolled" else 1,
            version_number=1 if ON_FIRST_VERSION(counter) else 2,
        )
        ds.transcripts.setdefault(person_id, []).append(item)
        if not learning_path:
            ds.enrollments[resource_id][person_id] = item
