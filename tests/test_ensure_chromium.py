"""bin/ensure-chromium, which `make test` runs first: a fresh machine gets Debian's chromium.

The script runs with a PATH of stand-ins only (apt-get, id, sudo, chromium), so what it
would do to the machine is recorded instead of done.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bin" / "ensure-chromium"
HOW = (
    "chromium is not installed, so the browser tests will fail: install it with sudo "
    "apt-get install -y chromium (Debian/Ubuntu) and run make test again"
)
INSTALL = "apt-get install -y chromium"
STARTS = "Installing Debian's chromium for the browser tests (apt-get install -y chromium)"


@dataclass
class Machine:
    """A PATH of stand-ins that record their calls (in $CALLS)."""

    bin_dir: Path
    calls: Path

    def add(self, name: str, script: str = "exit 0") -> None:
        path = self.bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$CALLS"\n{script}\n')
        path.chmod(0o755)

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin_dir), "CALLS": str(self.calls)}
        return subprocess.run(
            ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
        )

    def made(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "env").symlink_to("/usr/bin/env")
    (bin_dir / "grep").symlink_to("/usr/bin/grep")  # for the stand-ins' own use
    return Machine(bin_dir, tmp_path / "calls")


def test_make_test_runs_it_before_the_tests() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    tests_line = next(i for i, line in enumerate(dry_run) if "bin/run-tests" in line)
    assert dry_run.index("bin/ensure-chromium") < tests_line
    assert os.access(SCRIPT, os.X_OK)


def test_an_installed_chromium_is_left_alone(machine: Machine) -> None:
    machine.add("chromium")
    machine.add("apt-get")
    machine.add("id", "echo 0")
    result = machine.run()
    assert (result.returncode, result.stderr, machine.made()) == (0, "", [])


def test_root_installs_debians_package(machine: Machine) -> None:
    machine.add("apt-get")
    machine.add("id", "echo 0")
    result = machine.run()
    assert (result.returncode, result.stderr.splitlines()) == (0, [STARTS])
    assert machine.made() == ["id -u", INSTALL]


def test_missing_package_lists_are_fetched_once(machine: Machine) -> None:
    # A fresh machine has no package lists: the install fails until `apt-get update`.
    machine.add("apt-get", 'if [ "$1" = install ]; then grep -q "^apt-get update" "$CALLS"; fi')
    machine.add("id", "echo 0")
    result = machine.run()
    assert result.returncode == 0
    assert machine.made() == ["id -u", INSTALL, "apt-get update", INSTALL]


def test_password_less_sudo_installs_it(machine: Machine) -> None:
    machine.add("apt-get")
    machine.add("id", "echo 1000")
    machine.add("sudo", 'shift; "$@"')  # sudo -n COMMAND...: run it
    result = machine.run()
    assert result.returncode == 0
    assert machine.made() == [
        "id -u",
        "sudo -n true",
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium",
        INSTALL,
    ]


@pytest.mark.parametrize(
    ("stand_ins", "tried"),
    [
        ({"id": "echo 1000", "apt-get": "exit 0"}, 0),
        ({"id": "echo 1000", "apt-get": "exit 0", "sudo": "exit 1"}, 0),
        ({"id": "echo 0"}, 0),
        ({"id": "echo 0", "apt-get": "exit 100"}, 1),  # update fails too: no second try
    ],
    ids=["not-root", "sudo-asks-a-password", "no-apt-get", "install-fails"],
)
def test_when_it_cannot_install_one_line_says_how(
    machine: Machine, stand_ins: dict[str, str], tried: int
) -> None:
    for name, script in stand_ins.items():
        machine.add(name, script)
    result = machine.run()
    assert result.returncode == 0  # the rest of the suite still runs; its browser tests fail
    assert [line for line in result.stderr.splitlines() if line != STARTS] == [HOW]
    assert machine.made().count(INSTALL) == tried
