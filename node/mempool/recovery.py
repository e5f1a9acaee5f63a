"""Signature recovery in worker processes, for a node with a core to spare.

Recovering the signer is the largest single cost of admitting a transfer (about a third of
it), and it needs nothing but the transaction's bytes. With `[mempool] recovery_workers` set,
the transactions that clients submit are recovered in that many worker processes, in groups:
every submission that arrives while the loop is busy (the members of a JSON-RPC batch run
concurrently) joins the next group. The loop then decodes and admits them as before, in the
order they arrived, and only skips the recovery (a native transaction's signer needs only its
bytes; an Ethereum one is decoded in the worker to find what it signed). A worker that dies
costs nothing but time: the loop recovers that group itself, and the pool is started again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor

log = logging.getLogger(__name__)

Signer = Callable[[bytes], bytes | None]

# One group is handed to one worker: a group as large as a client's batch keeps the cost of the
# hand-over (pickling, a pipe round trip) small next to the recoveries it carries.
MAX_GROUP = 500
# A pool that keeps dying (no memory, a broken interpreter) is given up: the loop recovers alone.
MAX_RESTARTS = 3
PARENT_POLL_S = 0.5


def _exit_with(parent: int) -> None:
    """In a worker: exit when the node is gone, even by SIGKILL (the pool's pipes would not tell)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    # A Ctrl-C or a SIGTERM sent to the node's process group is the node's to handle: it shuts the
    # pool down; a worker killed by it would break the pool and be started again while stopping.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def signers_of(signer: Signer, raws: list[bytes]) -> list[bytes | None]:
    """In a worker: the signer of each raw transaction, None where there is none to find."""
    return [signer(raw) for raw in raws]


class RecoveryPool:
    def __init__(self, workers: int, signer: Signer, executor: Executor | None = None) -> None:
        """`signer`: picklable, e.g. the chain's `TxDecoder(...).signer` (both envelopes)."""
        if workers < 1:
            raise ValueError("recovery workers: at least 1")
        self.workers = workers
        self._signer = signer
        self._executor = executor if executor is not None else self._start()
        self._waiting: list[tuple[bytes, asyncio.Future[bytes | None]]] = []
        self._unanswered = 0
        self._tail: asyncio.Task[None] | None = None  # the group answered last
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        self._restarts = 0
        self.found = 0  # signers the workers found
        self.closed = False

    def _start(self) -> Executor:
        # Spawned, not forked: a fork would copy the node's loop, sockets and database handles.
        executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_exit_with, initargs=(os.getpid(),))
        executor.submit(signers_of, self._signer, [])  # started now, not when the first client waits for it
        return executor

    def signer(self, raw: bytes, recover: bool = True) -> asyncio.Future[bytes | None]:
        """The signer of `raw` (None: let the decoder find out why not), once a worker has it.

        Answers come in the order asked, so that what a client sent in order is admitted in
        order; `recover=False` (the loop will not need it) still waits its turn behind them."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        if self.closed or (not recover and not self._unanswered):
            future.set_result(None)
            return future
        if not self._waiting:
            # After the tasks already scheduled (a batch's other members) have joined the group.
            loop.call_soon(self._flush)
        self._waiting.append((raw if recover else b"", future))
        self._unanswered += 1
        # Counted down by a callback that runs just before the waiting task resumes (the task's own
        # callback comes later): a submission in between still queues behind it.
        future.add_done_callback(self._answered)
        return future

    def _answered(self, _: asyncio.Future[bytes | None]) -> None:
        self._unanswered -= 1

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for i in range(0, len(waiting), MAX_GROUP):
            task = asyncio.ensure_future(self._recover(waiting[i : i + MAX_GROUP], self._tail))
            self._tail = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _recover(self, group: list[tuple[bytes, asyncio.Future[bytes | None]]],
                       previous: asyncio.Task[None] | None) -> None:
        loop = asyncio.get_running_loop()
        executor = self._executor
        signers: list[bytes | None] = [None] * len(group)  # what the loop is left to recover, whatever happens
        try:
            try:
                signers = await loop.run_in_executor(executor, signers_of, self._signer, [raw for raw, _ in group])
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # Our call was cancelled by a pool shutting down (close, or a restart): the loop recovers.
            except BrokenExecutor as exc:  # a worker died
                self._restart(executor, exc)
            except Exception as exc:  # not the pool's fault (an unpicklable call?): this group alone
                log.warning("signature recovery workers could not take a group (%s); recovering it on the loop", exc)
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
        finally:
            self.found += sum(s is not None for s in signers)
            for (_, future), signer in zip(group, signers, strict=True):
                if not future.done():
                    future.set_result(signer)

    def _restart(self, broken: Executor, exc: BaseException) -> None:
        if self.closed or broken is not self._executor:
            return  # shutting down, or another group already restarted it
        broken.shutdown(wait=False, cancel_futures=True)
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            log.error("signature recovery workers failed %d times (%s); recovering on the loop from now on",
                      self._restarts, exc)
            self.closed = True
            return
        log.warning("signature recovery workers failed (%s); starting them again", exc)
        self._executor = self._start()

    def close(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
