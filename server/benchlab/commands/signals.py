"""Ctrl-C (SIGINT) and SIGTERM for the commands that own stores: stop in steps, never leave a mess behind.

A signal must never surface as a KeyboardInterrupt in the middle of an `await` or of a `finally`: that is how
a second Ctrl-C used to leave buffered rows unwritten, the run `running` and embedded PostgreSQL up. So:
- outside the event loop (starting or stopping embedded PostgreSQL) the first signal raises
  `ShutdownRequested`, which unwinds through every `finally`; later ones only say that the command is stopping;
- inside the loop, `StopSignals` handles them as loop callbacks and escalates one step per signal: first the
  graceful stop, then the immediate one, then only a message (with the pid, for `kill -9`).
Exit status of a command stopped by signal N is 128 + N (130 for Ctrl-C, 143 for SIGTERM), as shells report it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownRequested(BaseException):
    """SIGINT/SIGTERM outside the event loop: unwind through every `finally` so the stores shut down cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def say(message: str) -> None:
    print(f"\n{message}", file=sys.stderr, flush=True)


def _announce(signum: int, frame: FrameType | None) -> None:
    say(f"already stopping; wait a moment (or kill -9 {os.getpid()} to force it)")


def _raise_once(signum: int, frame: FrameType | None) -> None:
    for each in STOP_SIGNALS:
        signal.signal(each, _announce)
    raise ShutdownRequested(signum)


def raise_on_signals() -> None:
    """From now on (outside the event loop), the first SIGINT/SIGTERM raises ShutdownRequested."""
    for each in STOP_SIGNALS:
        signal.signal(each, _raise_once)


def announce_signals() -> None:
    """From now on (outside the event loop), SIGINT/SIGTERM only say that the command is stopping."""
    for each in STOP_SIGNALS:
        signal.signal(each, _announce)


@contextmanager
def signals_held(until: str) -> Iterator[None]:
    """Hold SIGINT/SIGTERM while something must not be cut short (embedded PostgreSQL starting: killed half-way,
    its server would come up after the check that stops it); the first signal held is delivered right after."""
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if not held:
            say(f"stopping once {until}")
        held.append(signum)

    previous = {each: signal.signal(each, hold) for each in STOP_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
    if held:
        signal.raise_signal(held[0])  # to whatever handles it now (e.g. raise ShutdownRequested)


@contextmanager
def restored_signal_handlers() -> Iterator[None]:
    """Put back the handlers a command found, whatever it installed meanwhile (tests call commands in-process)."""
    previous = {each: signal.getsignal(each) for each in STOP_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


class StopSignals:
    """SIGINT/SIGTERM as event-loop callbacks, one escalation step per signal.

    `steps` are called in order, one per signal (e.g. cancel gracefully, then stop at once); any further
    signal only prints a message. `first_signal` is the signal that started the stop (for the exit status).
    """

    def __init__(self) -> None:
        self.first_signal: int | None = None
        self.received = 0
        self._steps: list[Callable[[], object]] = []  # what a step returns is ignored
        self._loop: asyncio.AbstractEventLoop

    def install(self, *steps: Callable[[], object]) -> None:
        """Handle the signals on the running loop until `uninstall()`. The loop's own handlers, because they
        wake it through its wake-up pipe: the kernel may deliver a signal to any thread (chDB's, the default
        executor's), and a plain Python handler runs only once the main thread wakes up by itself."""
        self._loop = asyncio.get_running_loop()
        self._steps = list(steps)
        for each in STOP_SIGNALS:
            self._loop.add_signal_handler(each, self._on_signal, each)

    def uninstall(self) -> None:
        """Back to `announce_signals` before the loop closes: the loop closes its wake-up pipe before it removes
        its signal handlers, and a signal in between printed a traceback."""
        for each in STOP_SIGNALS:
            self._loop.remove_signal_handler(each)
        announce_signals()

    def escalate_with(self, *steps: Callable[[], object]) -> None:
        """Replace the steps still to come (e.g. once the run has started, stopping means cancelling it)."""
        self._steps = list(steps)

    @property
    def exit_status(self) -> int:
        return 128 + (self.first_signal or signal.SIGINT)

    def _on_signal(self, signum: int) -> None:
        self.received += 1
        if self.first_signal is None:
            self.first_signal = signum
        if self._steps:
            self._steps.pop(0)()
        else:
            _announce(signum, None)
