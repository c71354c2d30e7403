"""`wharf healthcheck` (Docker HEALTHCHECK) and `wharf version`."""

import re
import subprocess

import yaml


def test_healthcheck_follows_ping(wharf, wharf_bin):
    w = wharf.start({"ping": {}})
    conf = w.config_path
    p = subprocess.run([str(wharf_bin), "healthcheck", f"--configFile={conf}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "/ping" in p.stdout
    w.stop()
    p = subprocess.run([str(wharf_bin), "healthcheck", f"--configFile={conf}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "no answer" in p.stderr


def test_healthcheck_without_ping_is_an_error(wharf_bin, tmp_path):
    conf = tmp_path / "t.yml"
    conf.write_text(yaml.safe_dump({"entryPoints": {"web": {"address": "127.0.0.1:1"}}}))
    p = subprocess.run([str(wharf_bin), "healthcheck", f"--configFile={conf}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "ping is not enabled" in p.stderr


def test_version(wharf_bin):
    p = subprocess.run([str(wharf_bin), "version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    assert re.match(r"wharf \d+\.\d+\.\d+ ", p.stdout)


def test_unknown_command(wharf_bin):
    p = subprocess.run([str(wharf_bin), "frobnicate"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert 'unknown command "frobnicate"' in p.stderr
