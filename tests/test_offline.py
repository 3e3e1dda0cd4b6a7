"""The suite runs offline: non-loopback connections fail, loopback still works."""

import socket
import subprocess
import sys

import pytest


def test_a_connection_outside_loopback_is_refused_before_it_leaves():
    # 192.0.2.1 is TEST-NET-1 (documentation only); the guard refuses before connecting
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="offline"):
        s.connect(("192.0.2.1", 80))


def test_loopback_connections_still_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            conn, _ = server.accept()
            conn.close()


def test_child_processes_are_offline_too():
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except ConnectionRefusedError as e:\n"
        "    print('refused', 'offline' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "refused True", out.stderr
