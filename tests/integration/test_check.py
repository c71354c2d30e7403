"""`wharf check`: every error printed with its element and key path; exit 1 when anything is
disabled, 0 on a valid configuration (issue 2 acceptance)."""

import subprocess

import yaml


def run_check(wharf_bin, tmp_path, static, dynamic=None, extra=()):
    if dynamic is not None:
        dyn = tmp_path / "dynamic.yml"
        dyn.write_text(dynamic if isinstance(dynamic, str) else yaml.safe_dump(dynamic))
        static = dict(static)
        static["providers"] = {"file": {"filename": str(dyn)}}
    conf = tmp_path / "traefik.yml"
    conf.write_text(yaml.safe_dump(static))
    p = subprocess.run(
        [str(wharf_bin), "check", f"--configFile={conf}", *extra],
        capture_output=True, text=True, timeout=30,
    )
    return p.returncode, p.stdout + p.stderr


STATIC = {"entryPoints": {"web": {"address": "127.0.0.1:18080"}}}
SVC = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}


def test_three_errors_all_reported_with_paths(wharf_bin, tmp_path):
    dynamic = {
        "http": {
            "routers": {
                "r1": {"rule": "Host(`a.example`) ||", "service": "svc"},
                "r2": {"rule": "Host(`b.example`)", "service": "nosuch"},
                "r3": {"rule": "Host(`c.example`)", "service": "svc", "middlewares": ["m"]},
                "ok": {"rule": "Host(`d.example`)", "service": "svc"},
            },
            "services": {"svc": SVC},
            "middlewares": {"m": {"headers": {"stsSecondz": 10}}},
        }
    }
    rc, out = run_check(wharf_bin, tmp_path, STATIC, dynamic)
    assert rc == 1, out
    lines = out.splitlines()

    def line_with(*parts):
        hits = [l for l in lines if all(p in l for p in parts)]
        assert hits, f"no line with {parts} in:\n{out}"
        return hits[0]

    line_with('router "r1@file"', "rule:")
    line_with('router "r2@file"', 'service "nosuch@file" does not exist')
    line_with('middleware "m@file"', "headers.stsSecondz", 'did you mean "stsSeconds"')
    # the router using the broken middleware is disabled too, and says why
    line_with('router "r3@file"', 'middleware "m@file" is disabled')
    assert not [l for l in lines if '"ok@file"' in l]
    assert "configuration invalid" in out


def test_valid_configuration_exits_0(wharf_bin, tmp_path):
    dynamic = {
        "http": {
            "routers": {"ok": {"rule": "Host(`d.example`) && PathPrefix(`/x`)", "service": "svc"}},
            "services": {"svc": SVC},
        }
    }
    rc, out = run_check(wharf_bin, tmp_path, STATIC, dynamic)
    assert rc == 0, out
    assert "configuration valid" in out


def test_file_syntax_error_exits_1_with_line(wharf_bin, tmp_path):
    rc, out = run_check(wharf_bin, tmp_path, STATIC, "http:\n  routers:\n    a: [\n")
    assert rc == 1
    assert "dynamic.yml:" in out


def test_static_unknown_key_is_named_with_suggestion(wharf_bin, tmp_path):
    static = {"entryPoints": {"web": {"adress": ":80"}}}
    rc, out = run_check(wharf_bin, tmp_path, static)
    assert rc == 1
    assert "entryPoints.web.adress" in out and 'did you mean "address"' in out, out


def test_static_flags_unknown_key(wharf_bin):
    p = subprocess.run(
        [str(wharf_bin), "check", "--entryPoints.web.address=:80", "--api.insecur=true"],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 1
    assert "insecur" in p.stdout and 'did you mean "insecure"' in p.stdout, p.stdout


COMPOSE = """
version: "3"
services:
  web:
    image: busybox
    labels:
      - traefik.enable=true
      - traefik.http.routers.web.rule=Host(`shop.example`)
      - traefik.http.services.web.loadbalancer.server.port=8000
  api:
    image: busybox
    expose: ["9000"]
    labels:
      traefik.http.routers.api.rul: "Host(`api.example`)"
  admin:
    image: busybox
    labels:
      traefik.enable: "maybe"
  front:
    image: busybox
    ports: ["8081:80"]
"""


def test_compose_label_errors_reported_before_deploying(wharf_bin, tmp_path):
    proj = tmp_path / "My_Shop"
    proj.mkdir()
    (proj / "docker-compose.yml").write_text(COMPOSE)
    conf = tmp_path / "traefik.yml"
    conf.write_text(yaml.safe_dump(STATIC))
    p = subprocess.run([str(wharf_bin), "check", f"--configFile={conf}", "--compose",
                        str(proj / "docker-compose.yml")], capture_output=True, text=True,
                       timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert 'router "api@docker": rul: unknown key (did you mean "rule"?)' in out
    assert 'container "myshop_admin_1": skipped: label traefik.enable: invalid boolean' in out
    assert '"web@docker"' not in out  # valid: no error for it
    # compose naming: the unlabelled `front` service gets Host(`front-myshop`) and is valid
    assert '"front' not in out


def test_compose_valid_exits_0(wharf_bin, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: busybox\n    expose: ['80']\n"
        "    labels: {traefik.http.routers.w.rule: 'Host(`w.example`)'}\n")
    conf = tmp_path / "traefik.yml"
    conf.write_text(yaml.safe_dump(STATIC))
    p = subprocess.run([str(wharf_bin), "check", f"--configFile={conf}",
                        f"--compose={tmp_path / 'docker-compose.yml'}"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
