"""Offline guard for the test suite and every kernel it starts (nbval, papermill).

The first line of defence is `.ci/run`, which runs the tests in a network namespace with
only a loopback interface: nothing leaves, whatever the process (Chromium, `python -I`, C
code). This module is the second line, for a developer's own `pytest` (the whole suite, or
`pytest notebooks/X.ipynb` alone): the root conftest.py calls `activate()`, which puts this
folder on PYTHONPATH and sets MEXIT_OFFLINE=1, so each Python process of the test run imports
it at start-up and installs the guard. It refuses, before a packet leaves:

- TCP/UDP connections (`connect`, `connect_ex`) to an address other than loopback;
- datagrams sent with an explicit address (`sendto`, `sendmsg`) to such an address;
- name lookups (`getaddrinfo`, `gethostbyname`, `gethostbyname_ex`) of a name other than
  localhost, this machine's own name or an IP literal (a DNS query is a packet too);
- the same calls on raw `_socket.socket` objects (the C type is replaced by a guarded
  subclass in the `_socket` module).

What it cannot reach: non-Python processes, C extensions that open their own sockets, and
Python started with `-I`/`-E` (PYTHONPATH ignored). Only the namespace covers those.
"""

import _socket
import ipaddress
import os
import socket
import sys

_MESSAGE = "the mexit test suite runs offline: {what} refused (only 127.0.0.1 / ::1 / localhost)"
_INET = (socket.AF_INET, socket.AF_INET6)


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_local_name(host) -> bool:
    """Whether resolving `host` needs no DNS query: None or "" (the wildcard/passive address),
    loopback names, this machine's own name, and IP literals (resolved without a lookup)."""
    if host is None or host in ("", b""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return True  # let the real function raise its own TypeError
    if _is_loopback(host) or host == _HOSTNAME:
        return True
    try:
        ipaddress.ip_address(host.split("%")[0])
        return True
    except ValueError:
        return False


def _check_address(sock, address, what) -> None:
    if sock.family in _INET and isinstance(address, tuple) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(_MESSAGE.format(what=f"{what} to {address!r}"))


def _guard_methods(real) -> dict:
    """Guarded connect/connect_ex/sendto/sendmsg calling the `real` (unguarded) methods."""

    def connect(self, address):
        _check_address(self, address, "connection")
        return real["connect"](self, address)

    def connect_ex(self, address):
        _check_address(self, address, "connection")
        return real["connect_ex"](self, address)

    def sendto(self, data, *args):
        # sendto(data, address) or sendto(data, flags, address)
        if args:
            _check_address(self, args[-1], "datagram")
        return real["sendto"](self, data, *args)

    def sendmsg(self, buffers, *args):
        # sendmsg(buffers[, ancdata[, flags[, address]]])
        if len(args) >= 3 and args[2] is not None:
            _check_address(self, args[2], "message")
        return real["sendmsg"](self, buffers, *args)

    return {"connect": connect, "connect_ex": connect_ex, "sendto": sendto, "sendmsg": sendmsg}


def _guard_resolver(real, what):
    def lookup(host, *args, **kwargs):
        if not _is_local_name(host):
            raise socket.gaierror(
                socket.EAI_NONAME, _MESSAGE.format(what=f"{what} of {host!r} (a DNS query)")
            )
        return real(host, *args, **kwargs)

    lookup.__name__ = lookup.__qualname__ = real.__name__
    return lookup


_HOSTNAME = socket.gethostname()


def install() -> None:
    """Refuse non-loopback connections, datagrams and DNS lookups in this process (idempotent)."""
    if getattr(socket, "_mexit_offline", False):
        return
    raw = _socket.socket
    names = [n for n in ("connect", "connect_ex", "sendto", "sendmsg") if hasattr(raw, n)]
    real = {name: getattr(raw, name) for name in names}
    methods = {n: fn for n, fn in _guard_methods(real).items() if n in real}
    # socket.socket (the Python class every library uses) gets the guarded methods ...
    for name, fn in methods.items():
        setattr(socket.socket, name, fn)
    # ... and code that builds `_socket.socket` objects itself gets a guarded subclass
    guarded_raw = type("socket", (raw,), {**methods, "__module__": "_socket"})
    _socket.socket = _socket.SocketType = guarded_raw
    for module in (socket, _socket):
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
            setattr(module, name, _guard_resolver(getattr(module, name), name))
    socket._mexit_offline = True


def activate() -> None:
    """Guard this process and every Python process it starts (via PYTHONPATH)."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *paths])
    os.environ["MEXIT_OFFLINE"] = "1"
    install()


def _guard_voila() -> None:
    """A Voila server executes notebooks with nbclient, which can lose a cell's reply
    (mexit/_nbclient_guard.py, tests/HANGS.md): guard it too. Loaded by path, so that the
    guard does not import mexit (and torch) into every process."""
    argv = getattr(sys, "orig_argv", sys.argv)  # `python -m voila`: argv[0] is not set yet
    if not any(os.path.basename(arg) == "voila" for arg in argv[:3]):
        return
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "..", "mexit", "_nbclient_guard.py")
    spec = importlib.util.spec_from_file_location("mexit_nbclient_guard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install()


if os.environ.get("MEXIT_OFFLINE") == "1":
    install()
    _guard_voila()
