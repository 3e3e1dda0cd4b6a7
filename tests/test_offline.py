"""The suite runs offline.

Two lines of defence: `.ci/run` runs the tests in a network namespace with only loopback
(MEXIT_NETNS=1 there; the tests marked `in_namespace` check it, including for what the
Python guard cannot reach), and the Python guard (tests/offline/sitecustomize.py, loaded by the
root conftest.py) refuses non-loopback connections, datagrams and DNS lookups in every
Python process of a developer's own run."""

import _socket
import errno
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("192.0.2.1", 80)  # TEST-NET-1 (documentation only): never a real host
OFFLINE = r"\boffline\b"

in_namespace = pytest.mark.skipif(
    os.environ.get("MEXIT_NETNS") != "1",
    reason="not in .ci/run's network namespace (MEXIT_NETNS=1): only the Python guard is on",
)


# --- the Python guard ------------------------------------------------------------------------


def test_a_connection_outside_loopback_is_refused_before_it_leaves():
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match=OFFLINE):
        s.connect(OUTSIDE)


def test_connect_ex_outside_loopback_is_refused():
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match=OFFLINE):
        s.connect_ex(OUTSIDE)


def test_an_ipv6_connection_outside_loopback_is_refused():
    with socket.socket(socket.AF_INET6) as s, pytest.raises(ConnectionRefusedError, match=OFFLINE):
        s.connect(("2001:db8::1", 80, 0, 0))  # 2001:db8::/32 is for documentation only


@pytest.mark.parametrize("flags", [(), (0,)], ids=["sendto(data, addr)", "sendto(data, 0, addr)"])
def test_a_udp_datagram_outside_loopback_is_refused(flags):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(ConnectionRefusedError, match=OFFLINE):
            s.sendto(b"x", *flags, ("192.0.2.1", 53))


def test_a_udp_message_outside_loopback_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(ConnectionRefusedError, match=OFFLINE):
            s.sendmsg([b"x"], [], 0, ("192.0.2.1", 53))


@pytest.mark.parametrize(
    "lookup",
    [
        lambda: socket.getaddrinfo("pypi.org", 443),
        lambda: socket.gethostbyname("pypi.org"),
        lambda: socket.gethostbyname_ex("pypi.org"),
        lambda: socket.create_connection(("pypi.org", 443), timeout=5),
        lambda: _socket.getaddrinfo("pypi.org", 443),
    ],
    ids=["getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection", "_socket"],
)
def test_a_dns_lookup_is_refused(lookup):
    with pytest.raises(socket.gaierror, match=OFFLINE):
        lookup()


def test_local_names_still_resolve():
    assert any(ai[4][0] == "127.0.0.1" for ai in socket.getaddrinfo("localhost", 80))
    assert socket.getaddrinfo("192.0.2.1", 80)[0][4][0] == "192.0.2.1"  # a literal: no lookup
    socket.getaddrinfo(None, 80, flags=socket.AI_PASSIVE)  # the wildcard address of a server


@pytest.mark.parametrize("call", ["connect", "connect_ex", "sendto"])
def test_raw_c_sockets_are_guarded_too(call):
    kind = socket.SOCK_DGRAM if call == "sendto" else socket.SOCK_STREAM
    s = _socket.socket(socket.AF_INET, kind)
    try:
        args = (b"x", OUTSIDE) if call == "sendto" else (OUTSIDE,)
        with pytest.raises(ConnectionRefusedError, match=OFFLINE):
            getattr(s, call)(*args)
    finally:
        s.close()


def test_loopback_connections_still_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            conn, _ = server.accept()
            conn.close()


def test_loopback_datagrams_still_work():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
        a.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
            b.sendto(b"ping", a.getsockname())
            a.settimeout(5)
            assert a.recv(4) == b"ping"


def test_child_processes_are_offline_too():
    code = textwrap.dedent(
        """
        import socket
        for call in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),
                     lambda: socket.getaddrinfo('pypi.org', 443)):
            try:
                call()
            except OSError as e:
                print('refused', 'offline' in str(e))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["refused True"] * 2, out.stderr


def test_a_notebook_run_alone_is_guarded(tmp_path):
    """`pytest notebooks/X.ipynb` loads no tests/conftest.py: the root conftest.py must guard
    the pytest process and, through PYTHONPATH and MEXIT_OFFLINE, the kernels it starts."""
    (tmp_path / "probe.py").write_text(
        textwrap.dedent(
            """
            import os, socket
            def pytest_collection_finish(session):
                paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
                print("PROBE", os.environ.get("MEXIT_OFFLINE"),
                      getattr(socket, "_mexit_offline", False),
                      any(p.endswith(os.path.join("tests", "offline")) for p in paths))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "MEXIT_OFFLINE"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])  # no tests/offline
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "probe", "--co", "-q", "notebooks/00_index.ipynb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "PROBE 1 True True" in out.stdout, out.stdout + out.stderr


# --- the network namespace of .ci/run ------------------------------------------------------


@in_namespace
def test_the_only_network_interface_is_loopback():
    # /proc/net is this process's namespace (/sys/class/net may show the host's)
    interfaces = [
        ln.split(":")[0].strip() for ln in Path("/proc/net/dev").read_text().splitlines()[2:]
    ]
    assert interfaces == ["lo"], interfaces
    routes = Path("/proc/net/route").read_text().splitlines()[1:]
    assert routes == [], routes


def _unguarded(code: str) -> subprocess.CompletedProcess:
    # `python -I` ignores PYTHONPATH, so the Python guard is not loaded: only the namespace holds
    return subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@in_namespace
def test_isolated_python_has_no_route_out():
    out = _unguarded(
        """
        import socket
        print(getattr(socket, "_mexit_offline", False))
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=10)
        except OSError as e:
            print(e.errno)
        """
    )
    assert out.stdout.split() == ["False", str(errno.ENETUNREACH)], out.stderr


@in_namespace
def test_isolated_python_resolves_no_name():
    out = _unguarded(
        """
        import socket
        try:
            print(socket.getaddrinfo("pypi.org", 443))
        except socket.gaierror as e:
            print("gaierror", "offline" in str(e))
        """
    )
    assert out.stdout.strip() == "gaierror False", out.stdout + out.stderr


@in_namespace
def test_a_non_python_process_has_no_route_out():
    bash = shutil.which("bash")
    assert bash, "bash is needed for this check"
    out = subprocess.run(
        [bash, "-c", "exec 3<>/dev/tcp/192.0.2.1/80"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "Network is unreachable" in out.stderr, out.stderr
