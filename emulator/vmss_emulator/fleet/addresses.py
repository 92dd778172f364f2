"""Loopback addresses for instances: unique per emulator process, and reserved by a bound socket.

The second octet is random per process so that two emulators on one machine hand out different addresses; an
address somebody else already uses on the app port (EADDRINUSE) is skipped. The socket bound at allocation stays
with the instance: a bound socket that is not listening refuses connections, exactly like a VM whose app is down.
"""
from __future__ import annotations

import errno
import random
import socket

HOSTS_PER_OCTET = 254   # .1 .. .254 in each /24


class AddressPool:
    def __init__(self, second_octet: int | None = None, rng: random.Random | None = None) -> None:
        # 127.0.x.x and 127.1.x.x are left alone: 127.0.0.1 is where the emulator and the load balancers listen.
        self.second_octet = second_octet if second_octet is not None else (rng or random).randint(2, 254)
        self._next = 0

    def next_address(self) -> str:
        n = self._next
        self._next += 1
        third, fourth = divmod(n, HOSTS_PER_OCTET)
        if third > 255:
            raise RuntimeError(f"out of loopback addresses in 127.{self.second_octet}.0.0/16")
        return f"127.{self.second_octet}.{third}.{fourth + 1}"

    def allocate(self, port: int, attempts: int = 1000) -> tuple[str, socket.socket]:
        """A fresh address with a socket bound to (address, port), skipping addresses in use."""
        for _attempt in range(attempts):
            ip = self.next_address()
            try:
                return ip, bind_socket(ip, port, reuse=False)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise RuntimeError(f"no free loopback address for port {port} after {attempts} attempts")


def bind_socket(ip: str, port: int, reuse: bool = True) -> socket.socket:
    """reuse=False is the strict first claim of an address; reuse=True rebinds our own address after a restart
    while its old connections sit in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        # set after a strict bind too: accepted connections inherit the flag, and their TIME_WAIT leftovers would
        # otherwise block our own rebind after a restart
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise
