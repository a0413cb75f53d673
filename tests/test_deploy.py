"""The systemd units (issue 13 item 8): systemd-analyze verify, hardening, and a check before the start
that does not try the mail servers (a server down at boot must not keep mailbot from starting)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "mailbot@.service"
SINGLE = ROOT / "deploy" / "mailbot.service"


def directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("unit, name", [(TEMPLATE, "mailbot@net1.service"), (TEMPLATE, "mailbot@net2.service"),
                                        (SINGLE, "mailbot.service")])
def test_systemd_analyze_verify(tmp_path, unit, name):
    stub = tmp_path / "mailbot"  # the unit names /usr/local/bin/mailbot, not installed on a test machine
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    (tmp_path / name).write_text(unit.read_text().replace("/usr/local/bin/mailbot", str(stub)))
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_the_template_gives_each_network_its_own_folders_and_is_hardened():
    d = directives(TEMPLATE)
    assert d["ExecStart"] == ["/usr/local/bin/mailbot run -c /etc/mailbot/%i/config.toml"]
    assert d["EnvironmentFile"] == ["/etc/mailbot/%i/mailbot.env"]
    assert d["StateDirectory"] == ["mailbot/%i"] and d["ReadWritePaths"] == ["/var/lib/mailbot/%i"]
    assert d["BindReadOnlyPaths"] == ["/etc/mailbot/%i"] and d["BindPaths"] == ["/var/lib/mailbot/%i"]
    assert d["TemporaryFileSystem"] == ["/etc/mailbot:ro /var/lib/mailbot:ro"]  # the other networks: hidden
    for key, value in [("ProtectSystem", "strict"), ("NoNewPrivileges", "true"), ("PrivateTmp", "true"),
                       ("ProtectHome", "true"), ("PrivateDevices", "true"), ("UMask", "0077"),
                       ("RestartPreventExitStatus", "3"), ("User", "mailbot")]:
        assert d[key] == [value], key
    assert d["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("unit", [TEMPLATE, SINGLE])
def test_the_check_before_start_does_not_try_the_servers(unit):
    from mailbot.cli import build_parser

    (pre,) = directives(unit)["ExecStartPre"]
    argv = shlex.split(pre)
    assert argv[0] == "/usr/local/bin/mailbot"
    args = build_parser().parse_args(argv[1:])  # a real option of the real command line
    assert args.group == "check-config" and args.no_servers is True
    assert re.search(r"-c /etc/mailbot/(%i/)?config.toml", pre)
