"""Benchmarks on remote boards over SSH: ``gearshift bench --host`` and ``gearshift deploy``.

Uses paramiko (``pip install gearshift[remote]``). Connections honour
``~/.ssh/config`` (HostName, User, Port, IdentityFile), the SSH agent and the
default keys, and check the board's host key against ``~/.ssh/known_hosts``
(and the system's): an unknown or changed host key is refused with a message
saying how to add it (``ssh-keyscan`` or one interactive ``ssh``), never
accepted silently.

On the board, a benchmark runs the first of: the C++ ``gearshift-bench``
copied from a build folder (``--build DIR`` / ``--board NAME``: the output
of ``gearshift build --board``); ``python3 -m gearshift.cli bench`` where the
board's Python imports gearshift; a ``gearshift-bench`` that ``gearshift
deploy`` put in ``~/gearshift/bin`` or one on the board's ``PATH``. Its JSON
comes back with every result's ``host`` set to the board, and several boards
run in parallel into one fleet document (:func:`bench_fleet`); a board that
refuses or drops the connection is an entry in ``skipped`` with the reason,
the others' results are kept.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEPLOY_DIR = "gearshift"  # on the board, under the login's home folder
CONNECT_TIMEOUT_S = 15.0


class RemoteError(RuntimeError):
    """A board could not be reached or could not run the benchmark."""


@dataclass(frozen=True)
class HostSpec:
    """``USER@HOST[:PORT]`` as given; user and port None where not given (then
    ``~/.ssh/config`` or the defaults decide)."""

    text: str
    host: str
    user: str | None = None
    port: int | None = None


def parse_host(text: str) -> HostSpec:
    user, _, rest = text.rpartition("@")
    host, port = rest, None
    if rest.count(":") == 1:  # host:port (an IPv6 address has several colons: no port)
        host, _, p = rest.partition(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise ValueError(f"--host {text!r}: expected USER@HOST[:PORT] with a port 1..65535")
        port = int(p)
    if not host or (text.count("@") and not user):
        raise ValueError(f"--host {text!r}: expected USER@HOST[:PORT]")
    return HostSpec(text, host, user or None, port)


def _paramiko() -> Any:
    try:
        import logging

        import paramiko

        # paramiko logs a dropped connection's traceback as well as raising it;
        # the error is reported once, as the CLI's one line (an application that
        # configures logging still gets the records through the root logger)
        log = logging.getLogger("paramiko")
        if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
            log.addHandler(logging.NullHandler())
    except ImportError:
        raise ImportError(
            "--host and deploy need paramiko: pip install 'gearshift[remote]' (or pip install "
            "paramiko)"
        ) from None
    return paramiko


def connect(spec: HostSpec, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """An open ``paramiko.SSHClient`` to the board; :class:`RemoteError` saying why not."""
    paramiko = _paramiko()
    cfg: dict[str, Any] = {}
    config_path = Path("~/.ssh/config").expanduser()
    if config_path.is_file():
        cfg = paramiko.SSHConfig.from_path(str(config_path)).lookup(spec.host)
    hostname = cfg.get("hostname", spec.host)
    port = spec.port or int(cfg.get("port", 22))
    user = spec.user or cfg.get("user") or _local_user()
    client = paramiko.SSHClient()
    client.load_system_host_keys()  # ~/.ssh/known_hosts
    for extra in ("/etc/ssh/ssh_known_hosts", *cfg.get("userknownhostsfile", "").split()):
        if extra and os.path.isfile(os.path.expanduser(extra)):
            client.load_host_keys(os.path.expanduser(extra))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # never trust a key unasked
    where = f"{user}@{hostname}:{port}"
    try:
        client.connect(
            hostname,
            port=port,
            username=user,
            key_filename=[os.path.expanduser(k) for k in cfg.get("identityfile", [])] or None,
            timeout=timeout_s,
            banner_timeout=timeout_s,
            auth_timeout=timeout_s,
        )
    except paramiko.BadHostKeyException as e:
        raise RemoteError(
            f"{spec.text}: the host key of {where} does not match known_hosts ({e}); "
            "if the board was reinstalled, remove the old key with ssh-keygen -R"
        ) from None
    except paramiko.SSHException as e:
        if "not found in known_hosts" in str(e):
            raise RemoteError(
                f"{spec.text}: {where} is not in ~/.ssh/known_hosts; connect once with ssh "
                f"(or ssh-keyscan -p {port} {hostname} >> ~/.ssh/known_hosts after checking "
                "the fingerprint)"
            ) from None
        raise RemoteError(f"{spec.text}: SSH to {where} failed: {e}") from None
    except (OSError, socket.timeout) as e:
        raise RemoteError(f"{spec.text}: cannot connect to {where}: {_reason(e)}") from None
    return client


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def _reason(e: BaseException) -> str:
    errors = getattr(e, "errors", None)  # paramiko's NoValidConnectionsError: one per address
    if isinstance(errors, dict) and errors:
        e = next(iter(errors.values()))
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def run(client: Any, command: str, timeout_s: float = 3600.0) -> tuple[int, str, str]:
    """Runs ``command`` in the board's shell: exit status, stdout, stderr."""
    _, out, err = client.exec_command(command, timeout=timeout_s)
    stdout = out.read().decode("utf-8", errors="replace")
    stderr = err.read().decode("utf-8", errors="replace")
    return out.channel.recv_exit_status(), stdout, stderr


def _home(client: Any) -> str:
    rc, out, err = run(client, 'printf %s "$HOME"')
    if rc != 0 or not out.startswith("/"):
        raise RemoteError(f"cannot find the home folder on the board: {err.strip() or out!r}")
    return out


def build_dir(board: str | None, build: str | None) -> Path | None:
    """The ``gearshift build`` output to copy: ``build``, else ``dist-BOARD``."""
    if build is None and board is None:
        return None
    d = Path(build if build is not None else f"dist-{board}")
    if not (d / "bin" / "gearshift-bench").is_file():
        raise FileNotFoundError(
            f"{d}/bin/gearshift-bench not found: build it with gearshift build --board "
            f"{board or 'NAME'} -o {d}"
        )
    return d


def deploy(
    spec: HostSpec, build: Path | None, files: Sequence[str], remote_dir: str = DEPLOY_DIR
) -> list[str]:
    """Copies the build's ``bin/`` tools and wheels, and ``files``, to ``~/remote_dir``
    on the board; returns the paths written there."""
    client = connect(spec)
    try:
        return _copy(client, build, files, remote_dir)
    finally:
        client.close()


def _copy(client: Any, build: Path | None, files: Sequence[str], remote_dir: str) -> list[str]:
    root = remote_dir if remote_dir.startswith("/") else posixpath.join(_home(client), remote_dir)
    sftp = client.open_sftp()
    written = []
    try:
        uploads: list[tuple[Path, str]] = []
        if build is not None:
            for sub in ("bin", "wheels"):
                for f in sorted((build / sub).glob("*")) if (build / sub).is_dir() else []:
                    if f.is_file():
                        uploads.append((f, posixpath.join(root, sub, f.name)))
        uploads += [(Path(f), posixpath.join(root, Path(f).name)) for f in files]
        for local, remote in uploads:
            _mkdirs(sftp, posixpath.dirname(remote))
            sftp.put(str(local), remote)
            if local.parent.name == "bin":
                sftp.chmod(remote, 0o755)
            written.append(remote)
    finally:
        sftp.close()
    return written


def _mkdirs(sftp: Any, path: str) -> None:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        try:
            sftp.stat(d)
        except OSError:
            sftp.mkdir(d)


def bench_remote(
    spec: HostSpec,
    path: str,
    build: Path | None,
    bench_args: Sequence[str],
    cpp_args: Sequence[str],
    extra_files: Sequence[str] = (),
) -> dict[str, Any]:
    """Copies the model, ``extra_files`` (validation data, the peers' models) and
    the build's gearshift-bench to the board, runs the
    benchmark there and returns its document with ``host`` set on every result.

    ``bench_args``: the flags for ``gearshift bench`` on the board;
    ``cpp_args``: those ``gearshift-bench`` understands.
    """
    client = connect(spec)
    try:
        rc, tmp, err = run(client, "mktemp -d")
        if rc != 0:
            raise RemoteError(f"{spec.text}: mktemp -d failed on the board: {err.strip()}")
        tmp = tmp.strip()
        try:
            files = [path, *extra_files]
            sftp = client.open_sftp()
            try:
                for f in files:
                    sftp.put(f, posixpath.join(tmp, Path(f).name))
                if build is not None:
                    sftp.put(str(build / "bin" / "gearshift-bench"), f"{tmp}/gearshift-bench")
                    sftp.chmod(f"{tmp}/gearshift-bench", 0o755)
            finally:
                sftp.close()
            model = shlex.quote(posixpath.join(tmp, Path(path).name))
            command = _bench_command(client, tmp, build is not None, model, bench_args, cpp_args)
            rc, out, err = run(client, command)
            if rc != 0:
                tail = (err.strip().splitlines() or [f"exit status {rc}"])[-1]
                raise RemoteError(f"{spec.text}: the benchmark failed on the board: {tail}")
            try:
                doc = json.loads(out[out.index("{") :])
            except ValueError:
                raise RemoteError(f"{spec.text}: the board's benchmark wrote no JSON") from None
        finally:
            run(client, f"rm -rf {shlex.quote(tmp)}")
    finally:
        client.close()
    for r in doc.get("results", []):
        r["host"] = spec.text
    return doc


def _bench_command(
    client: Any, tmp: str, copied: bool, model: str, bench_args: Sequence[str],
    cpp_args: Sequence[str],
) -> str:  # fmt: skip
    """The command line that benchmarks ``model`` on the board (see the module docstring)."""
    cpp = " ".join(shlex.quote(a) for a in cpp_args)
    if copied:
        return f"{shlex.quote(tmp)}/gearshift-bench {model} {cpp} --json"
    if run(client, "python3 -c 'import gearshift.cli' 2>/dev/null")[0] == 0:
        py = " ".join(shlex.quote(a) for a in bench_args)
        out = shlex.quote(f"{tmp}/bench.json")
        cli = f"python3 -m gearshift.cli bench {model} {py} --json {out}"
        return f"cd {shlex.quote(tmp)} && {cli} >&2 && cat {out}"  # the table to stderr
    deployed = f'"$HOME"/{DEPLOY_DIR}/bin/gearshift-bench'
    rc, _, _ = run(client, f"test -x {deployed} || command -v gearshift-bench")
    if rc != 0:
        raise RemoteError(
            "the board has no gearshift: neither python3 with gearshift nor gearshift-bench "
            "(pass --build DIR or --board NAME with a gearshift build output, or run "
            "gearshift deploy first)"
        )
    pick = f"if test -x {deployed}; then B={deployed}; else B=gearshift-bench; fi"
    return f"{pick}; $B {model} {cpp} --json"


def bench_fleet(
    hosts: Sequence[str],
    path: str,
    build: Path | None,
    bench_args: Sequence[str],
    cpp_args: Sequence[str],
    extra_files: Sequence[str] = (),
) -> dict[str, Any]:
    """Every board at once; one document with all their results. A board that
    fails is listed in ``skipped`` with the reason; only when all fail is it an error."""
    specs = [parse_host(h) for h in hosts]
    _paramiko()
    with ThreadPoolExecutor(max_workers=min(len(specs), 16)) as pool:
        futures = [
            pool.submit(bench_remote, s, path, build, bench_args, cpp_args, extra_files)
            for s in specs
        ]
        outcomes: list[tuple[HostSpec, Any]] = []
        for s, f in zip(specs, futures):
            try:
                outcomes.append((s, f.result()))
            except (RemoteError, OSError, ValueError) as e:
                outcomes.append((s, e))
            except Exception as e:  # paramiko raises its own types on a dropped connection
                outcomes.append((s, RemoteError(f"{s.text}: {type(e).__name__}: {e}")))
    docs = [(s, d) for s, d in outcomes if isinstance(d, dict)]
    failed = [(s, e) for s, e in outcomes if not isinstance(e, dict)]
    if not docs:
        raise RemoteError("; ".join(str(e) for _, e in failed))
    fleet = dict(docs[0][1])
    fleet["file"] = path
    fleet["results"] = [r for _, d in docs for r in d.get("results", [])]
    fleet["gears"] = {}  # by-gear views are per board: see results
    fleet["skipped"] = [
        *(dict(s, host=h.text) for h, d in docs for s in d.get("skipped", [])),
        *({"runtime": "gearshift", "host": h.text, "reason": str(e)} for h, e in failed),
    ]
    fleet["hosts"] = {
        h.text: {"machine": d.get("machine", {}), "tool": d.get("tool", "")} for h, d in docs
    }
    if len(docs) > 1:  # one board's timeline is not the fleet's
        fleet.pop("timeline", None)
    return fleet
