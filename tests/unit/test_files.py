"""Files that carry secrets are never readable by others, whether new or rewritten."""

import stat

from market_weather.files import write_private


def test_a_new_secret_file_is_owner_only(tmp_path):
    path = tmp_path / "auth" / "passwords.json"
    write_private(path, '{"admin": "s3cret"}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == '{"admin": "s3cret"}'


def test_rewriting_a_world_readable_file_closes_it_and_replaces_its_text(tmp_path):
    path = tmp_path / "airflow.env.json"
    path.write_text("an old and much longer text")
    path.chmod(0o644)
    write_private(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "{}"
