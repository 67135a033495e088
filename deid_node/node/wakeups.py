"""Wake pynetdicom's reactor threads when there is work for them, not on their next poll.

Both threads of a pynetdicom association poll. The DUL thread sleeps 1 ms whenever a
pass of its loop found nothing to do; the association thread sleeps 1 ms before each look
at the queue of received DIMSE messages. A C-STORE crosses three of those sleeps (its
PDU arrives, its message reaches the handler, its response goes out), and a modality
waits for each answer before it sends the next instance.

pynetdicom calls ``time.sleep`` from its ``dul`` and ``association`` modules. ``install``
gives those two modules a clock whose ``sleep`` still sleeps, except in a reactor thread
that :func:`attach` registered: there it waits for that association's own wake-up (data on
the socket or a primitive to send; a DIMSE message for the handler) for at most the same
time. An early return is harmless: every such sleep sits in a loop that re-checks its
condition.
"""
from __future__ import annotations

import os
import select
import threading
import time
import weakref
from typing import Any, Callable

import pynetdicom.association
import pynetdicom.dul

_WAIT = "_deid_node_wait"  # attribute on the reactor Thread objects


class _Clock:
    """The ``time`` module, with ``sleep`` that waits for a registered wake-up."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        wait: Callable[[float], None] | None = getattr(threading.current_thread(), _WAIT, None)
        if wait is None:
            time.sleep(seconds)
        else:
            wait(seconds)


_CLOCK = _Clock()


def install() -> None:
    pynetdicom.dul.time = _CLOCK  # type: ignore[attr-defined]
    pynetdicom.association.time = _CLOCK  # type: ignore[attr-defined]


def attach(assoc: Any) -> None:
    """Register the wake-ups of an acceptor association whose threads have not started."""
    install()
    dul = assoc.dul
    sock = dul.socket.socket
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    weakref.finalize(dul, _close, wake_r, wake_w)

    def dul_wait(seconds: float) -> None:
        try:
            ready, _, _ = select.select([sock, wake_r], [], [], seconds)
        except (OSError, ValueError):  # the socket is closed: the DUL is ending
            time.sleep(seconds)
            return
        if wake_r in ready:
            _drain(wake_r)

    outgoing = dul.to_provider_queue
    put_outgoing = outgoing.put

    def put_and_wake_dul(item: Any, *args: Any, **kwargs: Any) -> None:
        put_outgoing(item, *args, **kwargs)
        try:
            os.write(wake_w, b"\0")
        except OSError:  # pipe full (a wake-up is pending anyway) or closed
            pass

    outgoing.put = put_and_wake_dul
    setattr(dul, _WAIT, dul_wait)

    message = threading.Event()
    received = assoc.dimse.msg_queue
    put_received = received.put

    def put_and_wake_reactor(item: Any, *args: Any, **kwargs: Any) -> None:
        put_received(item, *args, **kwargs)
        message.set()

    def reactor_wait(seconds: float) -> None:
        message.wait(seconds)
        message.clear()
        if not received.empty():  # the reactor takes one message per pass
            message.set()

    received.put = put_and_wake_reactor
    setattr(assoc, _WAIT, reactor_wait)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
