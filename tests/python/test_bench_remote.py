"""gearshift bench --host / gearshift deploy against real OpenSSH servers on 127.0.0.1.

The test starts two sshd "boards" (Debian's openssh-server; a throwaway host
key and user key made here), a port where nothing listens (refused) and one
that accepts and hangs up at once (dropped), and points ``$HOME`` at a
temporary folder whose ``.ssh/config`` and ``known_hosts`` name them, so the
real client configuration is what paramiko reads. The boards run the C++
gearshift-bench of the build folder (the board without Python); it must have
been built (``make test-cpp`` builds it in build/). Skipped where sshd,
ssh-keygen, paramiko or the tool is missing.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gearshift.bench_compare import load_schema
from gearshift.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "data" / "golden_v1_0.gear"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
TOOL = ROOT / "build" / "gearshift-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sshd(
    d: Path, port: int, host_key: Path, authorized: Path, extra: str = ""
) -> subprocess.Popen:
    cfg = d / f"sshd_{port}.conf"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {d}/sshd_{port}.pid\nPermitRootLogin prohibit-password\n"
        f"Subsystem sftp internal-sftp\n{extra}"
    )
    with open(d / f"sshd_{port}.log", "w") as log:  # sshd keeps its own copy of the descriptor
        p = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if p.poll() is not None:
            pytest.skip(f"sshd did not start: {(d / f'sshd_{port}.log').read_text().strip()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return p
        time.sleep(0.05)
    p.kill()
    pytest.skip("sshd did not listen within 10 s")


def hang_up_server() -> tuple[int, threading.Event]:
    """A port that accepts connections and closes them at once (a dropped connection)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                continue
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], stop


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    pytest.importorskip("paramiko", reason="needs paramiko (gearshift[remote])")
    if not os.path.isfile(SSHD) or not shutil.which("ssh-keygen"):
        pytest.skip("needs openssh-server and ssh-keygen (make sysdeps)")
    if not TOOL.is_file():
        pytest.skip("needs gearshift-bench in build/ (make test-cpp builds it)")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        try:  # sshd started by root needs its privilege separation folder
            os.makedirs("/run/sshd", mode=0o755)
        except OSError as e:
            pytest.skip(f"cannot create /run/sshd: {e}")
    d = tmp_path_factory.mktemp("ssh")
    for name in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True
        )
    authorized = d / "authorized_keys"
    shutil.copy(d / "user_key.pub", authorized)
    authorized.chmod(0o600)
    ports = [free_port(), free_port(), free_port()]
    procs = [start_sshd(d, p, d / "host_key", authorized) for p in ports[:2]]
    # a third board whose python3 imports this gearshift (and caches its costs in the
    # test's folder, not in the login's home)
    py_env = f"SetEnv PYTHONPATH={ROOT / 'python'} GEARSHIFT_CACHE_DIR={d / 'cache'}\n"
    procs.append(start_sshd(d, ports[2], d / "host_key", authorized, py_env))
    refused = free_port()  # nothing listens there
    dropped, stop = hang_up_server()
    home = d / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = (d / "host_key.pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(
        "".join(f"[127.0.0.1]:{p} {host_key[0]} {host_key[1]}\n" for p in ports)
    )
    user = getpass.getuser()
    entries = {"board1": ports[0], "board2": ports[1], "pyboard": ports[2]}
    entries.update(refuser=refused, dropper=dropped)
    config = "".join(
        f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {d / 'user_key'}\n"
        for name, port in entries.items()
    )
    # the same board under a name whose key is in no known_hosts
    config += f"Host stranger\n  HostName localhost\n  Port {ports[0]}\n  User {user}\n"
    config += f"  IdentityFile {d / 'user_key'}\n"
    (home / ".ssh" / "config").write_text(config)
    dist = d / "dist-host"
    (dist / "bin").mkdir(parents=True)
    shutil.copy(TOOL, dist / "bin" / "gearshift-bench")
    yield {"home": home, "dist": dist, "dir": d}
    stop.set()
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


@pytest.fixture
def ssh_home(boards, monkeypatch):
    monkeypatch.setenv("HOME", str(boards["home"]))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # only the test's key
    return boards


def test_a_fleet_runs_in_parallel_and_keeps_the_boards_that_answered(ssh_home, tmp_path, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "fleet.json"
    hosts = ["board1", "board2", "refuser", "dropper"]
    argv = ["bench", str(GOLDEN), "--runs", "3", "--warmup", "1", "--build",
            str(ssh_home["dist"]), "--json", str(out)]  # fmt: skip
    for h in hosts:
        argv += ["--host", h]
    assert main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert sorted(r["host"] for r in doc["results"]) == ["board1", "board2"]
    for r in doc["results"]:
        assert r["runtime"] == "gearshift" and r["gear"] == "fp32" and r["runs"] == 3
        assert r["load_ms"] > 0 and r["peak_rss_bytes"] > 0
    assert set(doc["hosts"]) == {"board1", "board2"}
    assert doc["hosts"]["board1"]["tool"].endswith("(c++)")
    failed = {s["host"]: s["reason"] for s in doc["skipped"]}
    assert set(failed) == {"refuser", "dropper"}
    assert "cannot connect" in failed["refuser"] and "refused" in failed["refuser"].lower()
    assert failed["dropper"].startswith("dropper: ")
    assert "gearshift@board1" in text and "refuser" in text  # the table, and the note


def test_a_board_with_python_runs_gearshift_bench_there(ssh_home, tmp_path, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "py.json"
    argv = ["bench", str(GOLDEN), "--runs", "3", "--warmup", "0", "--host", "pyboard",
            "--compare", "litert", "--json", str(out)]  # fmt: skip
    if main(argv) != 0:
        err = capsys.readouterr().err
        if "the board has no gearshift" in err:  # its python3 lacks numpy: nothing to test
            pytest.skip(f"the test board's python3 cannot import gearshift: {err.strip()}")
        pytest.fail(err)
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["hosts"]["pyboard"]["tool"].endswith("(python)")
    (r,) = doc["results"]
    assert (r["runtime"], r["gear"], r["host"], r["runs"]) == ("gearshift", "fp32", "pyboard", 3)
    assert r["peak_rss_bytes"] > 0 and "histogram_ms" in r  # measured there, in a child
    # the golden file remembers no .tflite: the board says so, and the note keeps its host
    (s,) = doc["skipped"]
    assert s["runtime"] == "litert" and s["host"] == "pyboard"


def test_an_unknown_host_key_is_refused_not_trusted(ssh_home, capsys):
    argv = ["bench", str(GOLDEN), "--runs", "1", "--build", str(ssh_home["dist"]),
            "--host", "stranger"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: stranger: ") and "not in ~/.ssh/known_hosts" in err
    assert err.count("\n") == 1


def test_deploy_copies_the_build_and_files(ssh_home, capsys):
    target = ssh_home["dir"] / "board1-files"
    argv = ["deploy", "--host", "board1", "--build", str(ssh_home["dist"]), str(GOLDEN),
            "--remote-dir", str(target)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert (target / "golden_v1_0.gear").read_bytes() == GOLDEN.read_bytes()
    tool = target / "bin" / "gearshift-bench"
    assert tool.read_bytes() == (ssh_home["dist"] / "bin" / "gearshift-bench").read_bytes()
    assert os.access(tool, os.X_OK)
    assert main(["deploy", "--host", "refuser", str(GOLDEN)]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_host_spec_parsing():
    from gearshift.remote import parse_host

    assert parse_host("pi@raspberrypi.local:2222") == parse_host("pi@raspberrypi.local:2222")
    s = parse_host("pi@raspberrypi.local:2222")
    assert (s.user, s.host, s.port) == ("pi", "raspberrypi.local", 2222)
    s = parse_host("board")
    assert (s.user, s.host, s.port) == (None, "board", None)
    for bad in ("pi@host:99999", "pi@host:ssh", "@host", "pi@"):
        with pytest.raises(ValueError, match="USER@HOST"):
            parse_host(bad)
