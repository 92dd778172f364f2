"""EmulatorProcess: start `vmss-emulator serve` in a subprocess and drive its admin API (the shared test harness)."""
from __future__ import annotations

import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


class EmulatorError(RuntimeError):
    """The emulator did not start, or an admin call answered with an error."""


class EmulatorProcess:
    def __init__(self, state_dir: str | os.PathLike, port: int = 0, scenario: str | os.PathLike | None = None,
                 args: tuple[str, ...] | list[str] = ()) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.scenario = scenario
        self.args = tuple(args)
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.env: dict[str, str] = {}
        self._ssl: ssl.SSLContext | None = None

    # ------------------------------------------------------------ process

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "ca.pem"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "emulator.log"

    def start(self, timeout: float = 30) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env_file = self.state_dir / "env.sh"
        env_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "vmss_emulator", "serve", "--port", str(self.port),
               "--state-dir", str(self.state_dir), "--parent-pid", str(os.getpid()), *self.args]
        if self.scenario:
            cmd += ["--scenario", str(self.scenario)]
        output = open(self.state_dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            output.close()
        deadline = time.monotonic() + timeout
        while not env_file.exists():
            if self.process.poll() is not None:
                raise EmulatorError(f"vmss-emulator exited with {self.process.returncode}: {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"vmss-emulator did not write env.sh within {timeout}s: {self._tail()}")
            time.sleep(0.05)
        self.env = parse_env_sh(env_file.read_text())
        self.url = self.env["VMSS_EMULATOR_URL"]
        self._ssl = ssl.create_default_context(cafile=str(self.ca_path))
        while True:
            try:
                if self.admin("GET", "/_emulator/health").get("status") == "ok":
                    return self
            except (EmulatorError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"vmss-emulator did not answer /_emulator/health within {timeout}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 15) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _tail(self, lines: int = 20) -> str:
        parts = []
        for name in ("stdout.log", "emulator.log"):
            path = self.state_dir / name
            if path.exists():
                parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(parts)

    # ------------------------------------------------------------ admin API

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API; returns the parsed JSON, raises EmulatorError on a non-2xx answer."""
        if not self.url:
            raise EmulatorError("the emulator is not started")
        data = None
        headers = {}
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                headers["Content-Type"] = "application/yaml"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def reset(self) -> None:
        self.admin("POST", "/_emulator/reset")

    def load_scenario(self, scenario: dict | str) -> Any:
        text = scenario if isinstance(scenario, str) else yaml.safe_dump(scenario, sort_keys=False)
        return self.admin("POST", "/_emulator/scenario", text)

    def config(self, **timings: Any) -> Any:
        return self.admin("POST", "/_emulator/config", timings)

    def requests(self) -> dict:
        return self.admin("GET", "/_emulator/requests")

    def reset_requests(self) -> None:
        self.admin("DELETE", "/_emulator/requests")

    def events(self, type: str | None = None, since: int | None = None) -> list:  # noqa: A002
        query = "&".join(f"{k}={v}" for k, v in (("type", type), ("since", since)) if v is not None)
        return self.admin("GET", "/_emulator/events" + (f"?{query}" if query else ""))["events"]

    def clear_events(self) -> None:
        self.admin("DELETE", "/_emulator/events")

    def set_faults(self, rules: list) -> Any:
        return self.admin("POST", "/_emulator/faults", rules)

    def clear_faults(self) -> None:
        self.admin("DELETE", "/_emulator/faults")

    def availability(self) -> dict:
        return self.admin("GET", "/_emulator/availability")

    def reset_availability(self) -> None:
        self.admin("DELETE", "/_emulator/availability")

    def instances(self, resource_group: str, name: str) -> list:
        return self.admin("GET", f"/_emulator/scale_sets/{resource_group}/{name}/instances")["instances"]


def parse_env_sh(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            key, _sep, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env
