"""`make run` and `make test` install the system packages they lack through tools/system-packages; a user who
can neither be root nor use sudo gets one line naming what is missing and the command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from market_weather.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "tools" / "system-packages"
# What the script itself runs: a PATH of only these holds none of the packages it looks for.
SHELL_TOOLS = ("bash", "id", "sed", "sort", "head", "dirname", "env")


def as_nobody(path: str, *args: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.fail("runs as root with util-linux's setpriv, to try the script as a user without sudo")
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-i", f"PATH={path}",
         "/bin/bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
def bare_path():
    """A folder of the shell tools alone, which the unprivileged user can reach (pytest's tmp_path it cannot)."""
    folder = Path(tempfile.mkdtemp(prefix="system-packages-"))
    folder.chmod(0o755)
    for tool in SHELL_TOOLS:
        (folder / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    yield str(folder)
    shutil.rmtree(folder)


def test_without_root_or_sudo_one_line_names_what_is_missing_and_how_to_install_it(bare_path):
    result = as_nobody(bare_path, "test")
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: missing system packages for make test: ")
    for package in ("python3.11", "openjdk-17-jre-headless", "maven", "nodejs", "npm"):
        assert package in line.split(";")[0]
    assert "sudo apt-get install -y --no-install-recommends python3.11 python3.11-venv openjdk-17-jre-headless" in line


def test_make_run_asks_for_less_than_make_test(bare_path):
    run, test = as_nobody(bare_path, "run").stderr, as_nobody(bare_path, "test").stderr
    assert "make run" in run and "chromium" not in run and "golang-go" not in run
    if not Path("/usr/bin/chromium").exists():
        assert "chromium" in test


def test_with_everything_installed_it_says_nothing():
    result = as_nobody(os.environ["PATH"], "test")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_run_and_make_test_call_it_and_so_does_ci():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "tools/system-packages run" in makefile and "tools/system-packages test" in makefile
    assert "\ntest: system-test setup\n" in makefile and "\nsetup: system-run " in makefile
    assert "tools/system-packages test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_an_unknown_purpose_is_refused():
    result = subprocess.run([str(SCRIPT), "deploy"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: tools/system-packages run|test" in result.stderr
