import pytest

from common.settings import Location, SettingsError, load_settings

BASE = {"POSTGRES_PASSWORD": "pw", "_env_file": None}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("POSTGRES_PORT", "COINCAP_ASSETS", "OPENWEATHER_LOCATIONS", "PRODUCER_SOURCE", "COINCAP_API_KEY",
                 "OPENWEATHER_API_KEY", "MONGO_URI", "POSTGRES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_contract():
    s = load_settings(**BASE)
    assert (s.MONGO_DB, s.POSTGRES_DB) == ("lake", "warehouse")
    assert s.COINCAP_BASE_URL == "https://rest.coincap.io/v3"
    assert s.OPENWEATHER_BASE_URL == "https://api.openweathermap.org"
    assert s.PRODUCER_SOURCE == "auto"


def test_lists_are_parsed_from_their_text_forms(monkeypatch):
    monkeypatch.setenv("COINCAP_ASSETS", "bitcoin, binance-coin")
    monkeypatch.setenv("OPENWEATHER_LOCATIONS", "paris:Paris:48.85:2.35; new-york:New York:40.71:-74.0")
    s = load_settings(**BASE)
    assert s.COINCAP_ASSETS == ["bitcoin", "binance-coin"]
    assert s.OPENWEATHER_LOCATIONS == [Location("paris", "Paris", 48.85, 2.35), Location("new-york", "New York", 40.71, -74.0)]


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("POSTGRES_PORT", "fifty", "POSTGRES_PORT"),
        ("POSTGRES_PORT", "70000", "POSTGRES_PORT"),
        ("OPENWEATHER_LOCATIONS", "paris:48.85:2.35", "id:Name:lat:lon"),
        ("OPENWEATHER_LOCATIONS", "paris:Paris:95:2", "lat must be in"),
        ("COINCAP_ASSETS", "Bitcoin", "COINCAP_ASSETS"),
        ("PRODUCER_SOURCE", "sometimes", "PRODUCER_SOURCE"),
        ("MONGO_URI", "localhost:27017", "MONGO_URI"),
    ],
)
def test_a_malformed_setting_fails_with_its_name(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=words) as info:
        load_settings(**BASE)
    assert name in str(info.value)


def test_a_missing_password_is_named():
    with pytest.raises(SettingsError, match="POSTGRES_PASSWORD: is required"):
        load_settings(_env_file=None)


def test_auto_source_is_live_only_where_a_key_is_set(monkeypatch):
    monkeypatch.setenv("COINCAP_API_KEY", "abc")
    monkeypatch.setenv("OPENWEATHER_API_KEY", "  ")
    s = load_settings(**BASE)
    assert (s.source_for("coincap"), s.source_for("openweather")) == ("live", "simulated")


def test_forcing_live_without_a_key_names_the_key(monkeypatch):
    monkeypatch.setenv("PRODUCER_SOURCE", "live")
    s = load_settings(**BASE)
    with pytest.raises(SettingsError, match="OPENWEATHER_API_KEY"):
        s.source_for("openweather")


def test_keys_and_password_do_not_show_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("COINCAP_API_KEY", "super-secret-key")
    s = load_settings(POSTGRES_PASSWORD="hunter2", _env_file=None)
    assert "super-secret-key" not in repr(s) and "hunter2" not in repr(s)


def test_settings_survive_a_round_trip_through_the_environment(monkeypatch):
    original = load_settings(
        POSTGRES_PASSWORD="p%w\"d", COINCAP_ASSETS="bitcoin,binance-coin", COINCAP_API_KEY="k",
        OPENWEATHER_LOCATIONS="paris:Paris:48.85:2.35;ny:New York:40.71:-74.0", _env_file=None,
    )
    for name, value in original.as_environment().items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None) == original
