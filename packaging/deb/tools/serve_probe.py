#!/usr/bin/python3
"""Start the installed `klikdok serve` the way systemd would and check it answers.

Runs inside the test root (stdlib only, Debian's python3) as root. It plays the
part of systemd for a Type=notify service with WatchdogSec: it binds a
NOTIFY_SOCKET, starts the server as the klikdok user with WATCHDOG_USEC set,
and requires READY=1 before the first request, a 200 {"status": "ok"} from
/healthz, at least one WATCHDOG=1 ping, and a clean exit (code 0) on SIGTERM.
Without these the packaged unit would be killed or restarted by systemd, so the
package would be broken even though the code "works" when run by hand.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class ProbeError(Exception):
    """The server did not behave like a healthy Type=notify service."""


def wait_for_message(
    sock: socket.socket, wanted: str, deadline: float, seen: list[str], proc: subprocess.Popen[bytes], since: int = 0
) -> None:
    """Read notifications until one from index `since` on contains `wanted`; fail if the server dies first."""
    while wanted not in "\n".join(seen[since:]):
        if proc.poll() is not None:
            raise ProbeError(f"server exited with code {proc.returncode} before sending {wanted}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"no {wanted} within the time limit (received: {seen or 'nothing'})")
        sock.settimeout(min(remaining, 0.5))
        try:
            seen.append(sock.recv(4096).decode(errors="replace"))
        except TimeoutError:
            continue


def get_health(url: str, cafile: str | None) -> dict[str, object]:
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=10, context=context) as response:  # loopback only
        if response.status != 200:
            raise ProbeError(f"{url} answered HTTP {response.status}")
        body = json.loads(response.read())
    if not isinstance(body, dict) or body.get("status") != "ok":
        raise ProbeError(f"{url} answered {body!r}, expected status ok")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="klikdok")
    parser.add_argument(
        "--url", action="append", required=True, help="health URL to GET (repeat: directly and through nginx)"
    )
    parser.add_argument("--cafile", help="CA for https URLs (the test's self-signed certificate)")
    parser.add_argument("--ready-timeout", type=float, default=90.0)
    parser.add_argument("--watchdog-usec", type=int, default=2_000_000)
    parser.add_argument("--log", type=Path, required=True, help="file for the server's stdout/stderr")
    args = parser.parse_args(argv)

    sockdir = Path(tempfile.mkdtemp(prefix="notify-", dir="/run"))
    sockdir.chmod(0o755)
    sock_path = sockdir / "notify"
    seen: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock_path.chmod(0o777)  # the server runs as another user
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/var/lib/klikdok",
            "NOTIFY_SOCKET": str(sock_path),
            "WATCHDOG_USEC": str(args.watchdog_usec),
        }
        cmd = [
            "setpriv",
            f"--reuid={args.user}",
            f"--regid={args.user}",
            "--init-groups",
            "klikdok",
            "serve",
            "--config",
            "/etc/klikdok/klikdok.toml",
        ]
        with args.log.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/var/lib/klikdok")
        try:
            started = time.monotonic()
            wait_for_message(sock, "READY=1", started + args.ready_timeout, seen, proc)
            ready_after = time.monotonic() - started
            bodies = [get_health(url, args.cafile) for url in args.url]
            # A ping *after* READY proves the periodic task runs, not just a first
            # ping during start-up. The app pings at half of WATCHDOG_USEC.
            wait_for_message(
                sock, "WATCHDOG=1", time.monotonic() + args.watchdog_usec / 1e6 + 3, seen, proc, since=len(seen)
            )
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                raise ProbeError("server did not stop within 30 s of SIGTERM") from None
            if code != 0:
                raise ProbeError(f"server exited with code {code} after SIGTERM, expected 0")
        except (ProbeError, OSError, ValueError) as exc:
            print(f"serve_probe: FAIL: {exc}", file=sys.stderr)
            return 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock_path.unlink(missing_ok=True)
            sockdir.rmdir()
    print(
        f"serve_probe: OK: READY after {ready_after:.1f}s, {' and '.join(args.url)} answered "
        f"{json.dumps(bodies[0], ensure_ascii=False)}, "
        f"watchdog pinged, clean stop; notifications: {' | '.join(m.replace(chr(10), ',') for m in seen)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
