"""Signature checks on every core: a set of worker processes that verify `SignatureJob`s.

Recovering a secp256k1 public key (or verifying an ed25519 signature) is most of the cost of
ingesting a report, and one Python process runs it on one core at a time. `SignatureWorkers`
keeps `count` worker processes (fresh interpreters running `serve`: they inherit no threads,
locks or database connections) and spreads a batch's jobs over them:

```
request thread: digests (check_signatures) → jobs → split over the idle workers ─┐
worker i:       verify_signature_jobs(chunk i) → results  (pickled over a pipe) ─┤
request thread: results in job order → verdicts (check_signatures)        ◀──────┘
```

Only the jobs travel (signature, signer key and digest: plain bytes) and only their results
come back (20 address bytes or a failure index); every verdict is still built in the
request's thread by `reports.verify.check_signatures`, the same code the sequential path
runs, so a verdict never depends on where its job ran. Workers hold no state that matters:
the ingest pipeline's replay check and its one transaction per batch stay in the process
that owns the store.

A request takes the idle workers it needs (waiting only while it holds none, so two requests
never wait on each other) and gives them back when their answers are in; while several
requests are in flight each gets a share. Small batches (under `MIN_PARALLEL_JOBS` jobs)
are verified in the caller, where a round trip would cost more than it saves. A worker that
dies or fails is replaced and its chunk verified in the caller, so a batch always gets its
verdicts. One set per process and size is shared by every pipeline (`shared_workers`):
several ingest apps in one process (a demo network, tests) do not start a set each.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import weakref
from typing import BinaryIO

from opendepin.reports.verify import SignatureJob, SignatureResult, verify_signature_jobs

log = logging.getLogger(__name__)

MIN_PARALLEL_JOBS = 32
"""Fewer jobs than this are verified in the caller (a round trip costs about one job)."""
MIN_CHUNK_JOBS = 16
"""A worker gets at least this many jobs of a batch."""
JOIN_SECONDS = 2.0
"""How long `close` waits for a worker to exit before it is killed."""
_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
_HEADER = struct.Struct("!Q")
"""Each message on a worker's pipes: its length (8 bytes, big-endian), then a pickle."""
_NO_JOBS = pickle.dumps([], _PICKLE_PROTOCOL)


def _worker_code(read_fd: int, write_fd: int) -> str:
    """The `python -c` program of a worker: this interpreter's path, then `serve`."""
    if os.path.isfile(__file__):
        # This file run by path, not imported: the worker then loads `reports.verify` but not
        # the ingest package (FastAPI, SQLAlchemy, ...), ~0.7 s and ~30 MB less per worker.
        load = f"import runpy; serve = runpy.run_path({__file__!r})['serve']"
    else:
        load = "from opendepin.ingest.workers import serve"
    return f"import sys; sys.path[:] = {sys.path!r}; {load}; serve({read_fd}, {write_fd})"


def default_worker_count() -> int:
    """One worker per core this process may run on; 0 on a single core (nothing to gain)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def _read_message(stream: BinaryIO) -> bytes | None:
    """One message's bytes, or None at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


def _write_message(stream: BinaryIO, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    """One message to a raw pipe descriptor: no Python buffer that a forked child could
    later flush into the pipe in the middle of another message."""
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def serve(read_fd: int, write_fd: int) -> None:
    """A worker process's loop: a pickled job list in, `(True, results)` or `(False, None)`
    out, until the owner closes the pipe. Ctrl-C is the owner's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(read_fd, "rb") as requests, open(write_fd, "wb") as replies:
        while (data := _read_message(requests)) is not None:
            try:
                reply: tuple[bool, list[SignatureResult] | None] = (
                    True,
                    verify_signature_jobs(pickle.loads(data)),
                )
            except Exception:  # the owner verifies the chunk itself, and raises if it must
                reply = (False, None)
            try:
                _write_message(replies, pickle.dumps(reply, _PICKLE_PROTOCOL))
            except OSError:  # the owner is gone
                return


class _Worker:
    """One worker process (this interpreter, running `serve`) and the owner's pipe ends.

    Started with `subprocess`, not `multiprocessing`: the worker imports this module and
    nothing else — not the owner's `__main__`, so a script without a main guard is safe.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = _worker_code(to_child_r, from_child_w)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.DEVNULL,
                pass_fds=(to_child_r, from_child_w),
            )
        except BaseException:
            for fd in (to_child_w, from_child_r):
                os.close(fd)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._requests = to_child_w  # -1 once closed
        self._replies: BinaryIO = open(from_child_r, "rb")  # noqa: SIM115 (closed by `stop`)

    def send(self, message: bytes) -> bool:
        """Send one pickled job list; False if the worker is gone."""
        if self._requests < 0:
            return False
        try:
            _write_all(self._requests, message)
        except OSError:
            return False
        return True

    def receive(self, expected: int) -> tuple[bool, list[SignatureResult] | None]:
        """(alive, results) of the chunk last sent: results None if the worker could not
        verify it (an exception there), alive False if the worker is gone or unusable."""
        try:
            data = _read_message(self._replies)
            if data is None:
                return False, None
            ok, results = pickle.loads(data)
        except (OSError, ValueError, TypeError, pickle.UnpicklingError):
            return False, None
        if not ok:
            return True, None
        if type(results) is not list or len(results) != expected:
            return False, None
        return True, results

    def close_pipes(self) -> None:
        """Close this process's ends of the pipes: the worker reads the end of its input
        and returns (once no forked copy of the ends is open either)."""
        fd, self._requests = self._requests, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self._replies.close()

    def stop(self) -> None:
        self.close_pipes()
        try:
            self.process.wait(JOIN_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(JOIN_SECONDS)


_live: weakref.WeakSet[SignatureWorkers] = weakref.WeakSet()
"""Every worker set of this process: closed at exit, forgotten in a forked child."""


def _close_all() -> None:
    for workers in list(_live):
        workers.close()


def _forget_all_after_fork() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for workers in list(_live):
        workers._forget_after_fork()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_all_after_fork)

_CLOSED = object()
"""Put in the idle queue by `close`: whoever takes it puts it back and verifies alone."""


class SignatureWorkers:
    """`count` worker processes verifying signature jobs; `run` is a `SignatureRunner`.

    Safe to call from many threads. Started on first use (or by `start`), stopped by
    `close` (a later `run` starts them again) and when the interpreter exits.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"a worker set needs at least one worker, got {count}")
        self.count = count
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker | object] | None = None
        self._workers: list[_Worker] = []
        self._pid = os.getpid()
        self.jobs_on_workers = 0
        """Jobs whose results came from a worker so far (approximate under many threads)."""
        _live.add(self)

    def _forget_after_fork(self) -> None:
        """In a forked child: the workers are the parent's (and the lock maybe held); close
        the child's copies of their pipes, so they still see the parent close them."""
        for w in self._workers:
            w.close_pipes()
        self._lock = threading.Lock()
        self._idle, self._workers, self._pid = None, [], os.getpid()

    def start(self, wait: bool = False) -> None:
        """Start the workers if they are not running; with `wait`, until each has answered."""
        idle = self._ensure_started()
        if not wait:
            return
        held: list[_Worker] = []
        broken: list[_Worker] = []
        try:
            while len(held) < self.count:
                w = idle.get()
                if not isinstance(w, _Worker):  # closed meanwhile
                    idle.put(w)
                    break
                held.append(w)
                if not (w.send(_NO_JOBS) and w.receive(0) == (True, [])):
                    broken.append(w)
        finally:
            self._give_back(idle, held, broken)

    def _ensure_started(self) -> queue.Queue[_Worker | object]:
        with self._lock:
            if self._pid != os.getpid():  # forked: the workers are the parent's
                self._pid, self._idle, self._workers = os.getpid(), None, []
            if self._idle is None:
                idle: queue.Queue[_Worker | object] = queue.Queue()
                self._workers = [_Worker(i) for i in range(self.count)]
                for w in self._workers:
                    idle.put(w)
                self._idle = idle
            return self._idle

    def run(self, jobs: list[SignatureJob]) -> list[SignatureResult]:
        """Each job's result, in order, computed on the workers (small batches: here)."""
        if len(jobs) < MIN_PARALLEL_JOBS:
            return verify_signature_jobs(jobs)
        idle = self._ensure_started()
        held: list[_Worker] = []
        first = idle.get()  # we hold no worker yet, so this wait cannot deadlock
        wanted = min(self.count, len(jobs) // MIN_CHUNK_JOBS)
        while isinstance(first, _Worker):
            held.append(first)
            if len(held) == wanted:
                break
            try:
                first = idle.get_nowait()
            except queue.Empty:
                break
        else:  # closed: put the marker back for the next waiter
            idle.put(first)
        if not held:
            return verify_signature_jobs(jobs)
        size, extra = divmod(len(jobs), len(held))
        chunks: list[list[SignatureJob]] = []
        start = 0
        for k in range(len(held)):
            end = start + size + (1 if k < extra else 0)
            chunks.append(jobs[start:end])
            start = end
        try:
            messages = [pickle.dumps(chunk, _PICKLE_PROTOCOL) for chunk in chunks]
        except Exception:  # not plain bytes (not from the codec): nothing was sent
            self._give_back(idle, held, [])
            return verify_signature_jobs(jobs)
        # Every reply is read before anything here can raise, so no worker goes back to the
        # idle queue with an answer still in its pipe; one that might have is replaced.
        answers: list[list[SignatureResult] | None] = []
        broken: list[_Worker] = []
        unread = list(held)
        try:
            sent = [w.send(m) for w, m in zip(held, messages, strict=True)]
            for w, chunk, ok in zip(held, chunks, sent, strict=True):
                alive, got = w.receive(len(chunk)) if ok else (False, None)
                unread.remove(w)
                if not alive:
                    broken.append(w)
                answers.append(got)
        finally:
            self._give_back(idle, held, broken + unread)
        results: list[SignatureResult] = []
        for chunk, got in zip(chunks, answers, strict=True):
            if got is None:  # verified here: raises whatever the worker could not report
                got = verify_signature_jobs(chunk)
            else:
                self.jobs_on_workers += len(chunk)
            results += got
        return results

    def _give_back(
        self, idle: queue.Queue[_Worker | object], held: list[_Worker], broken: list[_Worker]
    ) -> None:
        stop: list[_Worker] = []
        with self._lock:
            current = self._idle is idle and self._pid == os.getpid()
            for w in held:
                if w not in broken and current:
                    idle.put(w)
                    continue
                stop.append(w)
                if not current:
                    continue
                try:
                    fresh = _Worker(w.index)
                except Exception:  # cannot start one now: keep the dead one, retry next time
                    log.exception("cannot start signature worker %s", w.index)
                    w.close_pipes()
                    fresh = w
                self._workers = [fresh if x is w else x for x in self._workers]
                idle.put(fresh)
        for w in stop:
            if w in broken:
                log.warning("signature worker %s failed; replacing it", w.index)
            w.stop()

    def pids(self) -> list[int]:
        """Process ids of the running workers (empty before the first start)."""
        with self._lock:
            return [w.process.pid for w in self._workers]

    def close(self) -> None:
        """Stop the workers. A request in flight verifies what is left of its batch itself
        and stops the workers it holds when it is done; a later `run` starts a new set."""
        idle_workers: list[_Worker] = []
        with self._lock:
            idle = self._idle
            if idle is None or self._pid != os.getpid():
                return
            self._idle, self._workers = None, []
            while True:
                try:
                    w = idle.get_nowait()
                except queue.Empty:
                    break
                if isinstance(w, _Worker):
                    idle_workers.append(w)
            idle.put(_CLOSED)
        for w in idle_workers:
            w.stop()


_shared: dict[int, SignatureWorkers] = {}
_shared_lock = threading.Lock()


def shared_workers(count: int) -> SignatureWorkers:
    """This process's worker set of `count` workers (created on first call, started on first use)."""
    with _shared_lock:
        workers = _shared.get(count)
        if workers is None:
            workers = _shared[count] = SignatureWorkers(count)
        return workers
