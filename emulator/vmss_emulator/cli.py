"""`vmss-emulator serve`: HTTPS on a loopback address, state files in --state-dir, clean stop on SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import resource
import secrets
import shlex
import signal
import socket
import ssl
import sys
import uuid
from pathlib import Path

import trustme
from aiohttp import web

from . import admin, scenario
from .server import create_app

log = logging.getLogger("vmss_emulator")


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4:
            return host
    except ValueError:
        pass
    raise SystemExit(f"vmss-emulator: --host must be an address in 127.0.0.0/8 (got {host!r}); the emulator never "
                     "listens on other interfaces.")


def _raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def _identity(state_dir: Path) -> dict[str, str]:
    """The default principal and subscription: random per state dir, kept across restarts (file mode 0600)."""
    path = state_dir / "identity.json"
    if path.exists():
        return json.loads(path.read_text())
    ident = {"tenant": str(uuid.uuid4()), "client_id": str(uuid.uuid4()),
             "secret": secrets.token_urlsafe(24), "subscription_id": str(uuid.uuid4())}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(ident, fh)
    return ident


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _tls(state_dir: Path) -> ssl.SSLContext:
    ca = trustme.CA(organization_name="vmss-emulator")
    ca.cert_pem.write_to_path(str(state_dir / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def serve(args: argparse.Namespace) -> None:
    host = _loopback(args.host)
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("env.sh", "emulator.json"):
        (state_dir / stale).unlink(missing_ok=True)
    logging.basicConfig(filename=state_dir / "emulator.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    _raise_open_file_limit()
    ident = _identity(state_dir)
    context = _tls(state_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, args.port))
    port = sock.getsockname()[1]
    url = f"https://{host}:{port}"
    principal = admin.default_principal(ident["tenant"], ident["client_id"], ident["secret"])
    app = create_app(url, principal, ident["subscription_id"])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    # the scenario is loaded before the site listens, so a health 200 (or any answer) means it is all there
    if args.scenario:
        await scenario.load(app, scenario.parse(Path(args.scenario).read_bytes()))
    site = web.SockSite(runner, sock, ssl_context=context, backlog=1024)
    await site.start()
    info = {"url": url, "port": port, "pid": os.getpid(), "tenant": ident["tenant"], "client_id": ident["client_id"],
            "subscription_id": ident["subscription_id"]}
    _write_atomic(state_dir / "emulator.json", json.dumps(info, indent=2) + "\n")
    exports = {"AZURE_CLOUD_ENVIRONMENT": url, "AZURE_SUBSCRIPTION_ID": ident["subscription_id"],
               "AZURE_CLIENT_ID": ident["client_id"], "AZURE_SECRET": ident["secret"], "AZURE_TENANT": ident["tenant"],
               "REQUESTS_CA_BUNDLE": str(state_dir / "ca.pem"), "VMSS_EMULATOR_URL": url}
    _write_atomic(state_dir / "env.sh", "".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items()), 0o600)
    log.info("serving on %s (pid %s)", url, os.getpid())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = loop.create_task(_watch_parent(args.parent_pid, stop)) if args.parent_pid else None
    await stop.wait()
    log.info("stopping")
    if watcher:
        watcher.cancel()
    await runner.cleanup()
    log.info("stopped")


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us is gone, so a crashed test run leaves no emulator behind."""
    while True:
        await asyncio.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
            return
        except PermissionError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vmss-emulator", description="A local Azure (ARM + sign-in over HTTPS) "
                                     "for Virtual Machine Scale Sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve ARM and sign-in over HTTPS on a loopback address")
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = pick a free one)")
    p.add_argument("--state-dir", required=True, help="where ca.pem, env.sh, emulator.json and emulator.log go")
    p.add_argument("--scenario", help="YAML or JSON scenario file to load at start")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8 only)")
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario and not Path(args.scenario).is_file():
        parser.error(f"--scenario {args.scenario}: no such file")
    try:
        asyncio.run(serve(args))
    except scenario.ScenarioError as exc:
        print(f"vmss-emulator: scenario {args.scenario}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vmss-emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
