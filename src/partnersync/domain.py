"""Facts of the partner programme's world that the code relies on, apart from the settings
(a setting may start from one of them, as `PARTNERSYNC_PUBLIC_EMAIL_DOMAINS` does)."""

from __future__ import annotations

PUBLIC_EMAIL_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "yandex.com",
    "qq.com",
    "163.com",
    "yahoo.co.jp",
)
"""Mail providers anyone can sign up with: their users say nothing about an employer."""

CRM_OWNED_FIELDS = frozenset({"id", "name"})
"""Impartner Account fields a push must never set (`Id` only locates the account)."""
