"""Offline guard for the test suite and every kernel it starts (nbval, papermill).

pytest's conftest puts this folder on PYTHONPATH and sets MEXIT_OFFLINE=1, so each Python
process of a test run imports it at start-up. Any socket connection to an address other
than loopback then fails at once, before a packet leaves: code that would download data or
weights at run time fails the tests instead of passing only where a network happens to be.
"""

import ipaddress
import os
import socket


def _is_loopback(host) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    """Make socket connections to non-loopback addresses raise ConnectionRefusedError."""
    if getattr(socket.socket.connect, "_mexit_offline", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(
                f"the mexit test suite runs offline: connection to {address!r} refused "
                "(only 127.0.0.1 / ::1 / localhost are allowed)"
            )

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    connect._mexit_offline = True
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex


if os.environ.get("MEXIT_OFFLINE") == "1":
    install()
