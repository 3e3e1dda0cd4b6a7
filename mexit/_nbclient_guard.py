"""Notebook runs by papermill / nbclient / Voila must not hang on a lost wake-up.

nbclient stands in for a browser's Output widget: while it awaits a cell's execute_reply on
the shell socket (a zmq.asyncio poll), it sends comm_msg "update"s on that same socket, and
jupyter_client's Session.send sends them through a *synchronous* shadow of the socket. That
send drains the socket's edge-triggered ZMQ_FD, so a reply that has just arrived never wakes
the event loop: the cell waits forever (papermill's default has no timeout) although the
kernel replied and sits idle (jupyter/nbclient#311, #312; jupyter/jupyter_client#1059).
pyzmq's asyncio poll looks at the socket once more when its timeout fires, so waiting in
slices of at most `POLL_SLICE_S` seconds turns the hang into a delay of at most that long.
nbval's blocking client is not affected (plain zmq_poll). `install()` is called by the test
suite (tests/conftest.py, and tests/offline/sitecustomize.py for the servers it starts),
`mexit.build_html` and `mexit.bench`; tests/test_zmq_wakeup.py reproduces the lost wake-up.
"""

from __future__ import annotations

import time
from queue import Empty

POLL_SLICE_S = 1.0


def install() -> None:
    """Replace jupyter_client's async `get_msg` by one with the same semantics that polls in
    slices of `POLL_SLICE_S` seconds (idempotent; a no-op where jupyter_client is absent)."""
    try:
        from jupyter_client.channels import AsyncZMQSocketChannel
    except ImportError:  # the package itself does not need jupyter_client
        return
    if getattr(AsyncZMQSocketChannel.get_msg, "_mexit_sliced", False):
        return
    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout=None):
        """`get_msg` with its documented semantics, polling in slices of `POLL_SLICE_S`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else deadline - time.monotonic()
            if await self.socket.poll(int(1000 * max(0.0, min(POLL_SLICE_S, left)))):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    get_msg._mexit_sliced = True
    get_msg._mexit_original = original
    AsyncZMQSocketChannel.get_msg = get_msg
