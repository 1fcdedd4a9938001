from __future__ import annotations

from pathlib import Path

import pytest

from partnersync.config import ConfigError, load_settings, require


@pytest.fixture(autouse=True)
def _no_stray_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test in an empty directory so a developer's `.env` cannot leak in."""
    monkeypatch.chdir(tmp_path)
    for name in ("PARTNERSYNC_DATABASE_URL", "IMPARTNER_TENANT_ID", "NORTHPASS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_contract_defaults() -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == "sqlite:///partnersync.db"
    assert settings.northpass_base_url == "https://api.northpass.com"
    assert settings.impartner_base_url == "https://prod.impartner.live"
    assert settings.impartner_tenant_id == 1
    assert settings.sweep_max_share == 0.2


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("IMPARTNER_TENANT_ID=42\nNORTHPASS_API_KEY=from-dotenv\n")
    monkeypatch.setenv("NORTHPASS_BASE_URL", "http://127.0.0.1:9999/")
    settings = load_settings()
    assert settings.impartner_tenant_id == 42
    assert settings.northpass_base_url == "http://127.0.0.1:9999"
    assert settings.northpass_api_key is not None
    assert settings.northpass_api_key.get_secret_value() == "from-dotenv"


def test_malformed_setting_is_named_and_its_value_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARTNERSYNC_DATABASE_URL", "postgresql://user:hunter2@db/x")
    monkeypatch.setenv("IMPARTNER_TENANT_ID", "abc")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "PARTNERSYNC_DATABASE_URL" in message
    assert "IMPARTNER_TENANT_ID" in message
    assert "hunter2" not in message


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPARTNER_API_KEY", "s3cret-key")
    monkeypatch.setenv("PARTNERSYNC_API_TOKEN", "tok-123-and-long-enough")
    settings = load_settings()
    assert "s3cret-key" not in repr(settings)
    assert "tok-123-and-long-enough" not in str(settings.model_dump())


def test_required_secret_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="NORTHPASS_API_KEY"):
        require(None, "NORTHPASS_API_KEY")


def test_vendor_settings_are_grouped_per_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NORTHPASS_RATE_PER_SECOND", "9")
    monkeypatch.setenv("IMPARTNER_TENANT_ID", "42")
    settings = load_settings()
    assert settings.northpass.rate_per_second == 9.0 == settings.northpass_rate_per_second
    assert settings.impartner.tenant_id == 42
    assert settings.northpass.page_size == 100  # the default, written once


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARTNERSYNC_ANALYSIS_MIN_DOMAIN_CONTACTS", "0"),
        ("PARTNERSYNC_ANALYSIS_MIN_DOMAIN_CONTACTS", "1001"),
        ("PARTNERSYNC_ANALYSIS_MIN_DOMAIN_SHARE", "0"),
        ("PARTNERSYNC_ANALYSIS_MIN_DOMAIN_SHARE", "1.5"),
        ("PARTNERSYNC_ANALYSIS_MIN_DOMAIN_SHARE", "nan"),
    ],
)
def test_domain_evidence_thresholds_are_bounded(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_domain_evidence_thresholds_default_to_two_contacts_or_half() -> None:
    settings = load_settings()
    assert (settings.analysis_min_domain_contacts, settings.analysis_min_domain_share) == (2, 0.5)


def test_access_settings_default_to_a_day_of_grace_and_automatic_contacts_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.offboard_grace_hours == 24 and settings.access_auto_accept == ("contact",)
    assert not settings.access_all_partners and not settings.offboard_manual_memberships
    monkeypatch.setenv("PARTNERSYNC_ACCESS_AUTO_ACCEPT", " domain , contact ")
    assert load_settings().access_auto_accept == ("domain", "contact")
    monkeypatch.setenv("PARTNERSYNC_ACCESS_AUTO_ACCEPT", "contact,domian")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).count("\n") == 0 and "PARTNERSYNC_ACCESS_AUTO_ACCEPT" in str(
        caught.value
    )
