"""Signature checks on every core: a set of worker processes that decode and verify reports.

Recovering a secp256k1 public key (or verifying an ed25519 signature) is most of the cost of
ingesting a report, and one Python process runs it on one core at a time. `SignatureWorkers`
keeps `count` worker processes (fresh interpreters running `serve`: they inherit no threads,
locks or database connections) and spreads a batch over them. A worker answers two kinds of
request:

```
run(jobs)        SignatureJobs → verify_signature_jobs → 20 address bytes / failure index
prepare(items)   wire items → prepare_reports: decode (codec.from_json_fast) → network and
                 chain (check_network) → signature (check_signatures) → payload
                 (PayloadRegistry.check) → the log line (codec.dumps) → one `Prepared` each

request thread: split over the idle workers ─┐
worker i:       chunk i → answers (pickled over a pipe) ─┤
request thread: answers in order → verdicts        ◀─────┘
```

Everything a worker computes is a pure function of the request's bytes: the same functions
the sequential path runs (`prepare_reports` runs in the caller for a small batch, without
workers, or for a chunk a worker could not answer), so a verdict never depends on where it
was computed. The payload validators travel as a pickled copy of the pipeline's
`PayloadRegistry` (validators are pure schema checks); one that cannot be pickled is left to
the caller (`Prepared` says the payload was not checked). Workers hold no state that
matters: the registry lookup, the clock checks, the replay check and the one transaction per
batch stay in the process that owns the store (`ingest.pipeline`).

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
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from opendepin.cores import usable_cores
from opendepin.errors import InvalidReport
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import Rejection, RejectReason
from opendepin.reports.verify import (
    PayloadRegistry,
    SignatureJob,
    SignatureResult,
    check_network,
    check_signatures,
    verify_signature_jobs,
)
from opendepin.types import DeviceId, Epoch, ProofKind

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
_NO_JOBS = pickle.dumps(("sig", []), _PICKLE_PROTOCOL)
_MAX_CACHED_REGISTRIES = 16
"""Unpickled payload registries a worker keeps (one per pipeline configuration)."""

Prepared = (
    Rejection
    | tuple[DeviceId, int, Epoch, ProofKind, int, Rejection | None, Rejection | bool, Rejection | bool, bytes | None]
)
"""What `prepare_reports` makes of one wire item: the MALFORMED rejection of an item that
does not decode, else `(device, seq, epoch, kind, timestamp_ms, network, signature, payload,
wire)`: `network` is `check_network`'s verdict; `signature` and `payload` are each a
Rejection, True (passed) or False (not checked); `wire` is the log line (`codec.dumps`,
UTF-8), computed once the signature passed, else None."""


def prepare_reports(
    items: Sequence[Any],
    network_id: str,
    chain_id: int,
    verify: Sequence[bool],
    payloads: PayloadRegistry | None,
) -> list[Prepared]:
    """The stateless checks of each wire item (a decoded JSON value), in `INGEST_ORDER`
    (`ingest.checks`) minus the checks that need the ingest process's state or clock.

    Decoding, then the network and chain; a report bound to this network gets its signature
    checked where `verify[i]` (the caller's guess that its device is registered and active:
    an unregistered device costs no signature check), and one whose signature passed gets
    its payload checked (when `payloads` is given) and its log line. Total for any JSON
    value; one answer per item, in order."""
    out: list[Prepared] = []
    signed: list[Report] = []
    signed_at: list[int] = []
    for i, item in enumerate(items):
        try:
            report = codec.from_json_fast(item)
        except InvalidReport as exc:
            out.append(Rejection(RejectReason.MALFORMED, exc.message))
            continue
        network = check_network(report, network_id, chain_id)
        if network is None and verify[i]:
            signed.append(report)
            signed_at.append(i)
        out.append(
            (report.device, report.seq, report.epoch, report.kind, report.timestamp_ms, network, False, False, None)
        )
    for i, report, rejection in zip(signed_at, signed, check_signatures(signed), strict=True):
        if rejection is not None:
            out[i] = (report.device, report.seq, report.epoch, report.kind, report.timestamp_ms, None, rejection, False, None)
            continue
        payload: Rejection | bool = False
        if payloads is not None:
            payload = payloads.check(report) or True
        out[i] = (
            report.device,
            report.seq,
            report.epoch,
            report.kind,
            report.timestamp_ms,
            None,
            True,
            payload,
            codec.dumps(report).encode("utf-8"),
        )
    return out


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
    cores = usable_cores()
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


_registries: dict[bytes, PayloadRegistry | None] = {}


def _payload_registry(data: bytes | None) -> PayloadRegistry | None:
    """The payload registry pickled in `data` (cached); None if there is none or it does not
    load here (the caller then checks the payloads)."""
    if data is None:
        return None
    if data in _registries:
        return _registries[data]
    try:
        loaded = pickle.loads(data)
    except Exception:  # a validator's module does not import here: the caller checks
        loaded = None
    registry = loaded if type(loaded) is PayloadRegistry else None
    if len(_registries) >= _MAX_CACHED_REGISTRIES:
        _registries.clear()
    _registries[data] = registry
    return registry


def _answer(request: Any) -> list[Any]:
    """The results of one request (see `SignatureWorkers.run` and `.prepare`)."""
    if request[0] == "sig":
        return verify_signature_jobs(request[1])
    if request[0] == "prep":
        _, items, network_id, chain_id, verify, payloads = request
        return list(prepare_reports(items, network_id, chain_id, verify, _payload_registry(payloads)))
    raise ValueError(f"unknown request {request[0]!r}")


def serve(read_fd: int, write_fd: int) -> None:
    """A worker process's loop: a pickled request in, `(True, results)` or `(False, None)`
    out, until the owner closes the pipe. Ctrl-C is the owner's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(read_fd, "rb") as requests, open(write_fd, "wb") as replies:
        while (data := _read_message(requests)) is not None:
            try:
                reply: tuple[bool, list[Any] | None] = (True, _answer(pickle.loads(data)))
            except Exception:  # the owner computes the chunk itself, and raises if it must
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
        """Send one pickled request; False if the worker is gone."""
        if self._requests < 0:
            return False
        try:
            _write_all(self._requests, message)
        except OSError:
            return False
        return True

    def receive(self, expected: int) -> tuple[bool, list[Any] | None]:
        """(alive, results) of the chunk last sent: results None if the worker could not
        compute them (an exception there), alive False if the worker is gone or unusable."""
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
    """`count` worker processes verifying signature jobs (`run`, a `SignatureRunner`) and
    preparing wire reports (`prepare`).

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

    def start(self, wait: bool = False, payloads: PayloadRegistry | None = None) -> None:
        """Start the workers if they are not running; with `wait`, until each has answered.

        With `payloads`, each worker also loads that registry's validators now (their
        modules' imports), not on the first batch; without `wait`, in a background thread."""
        idle = self._ensure_started()
        if not wait:
            if payloads is not None:
                threading.Thread(
                    target=self.start, args=(True, payloads), name="worker-preload", daemon=True
                ).start()
            return
        hello = _NO_JOBS
        if payloads is not None:
            with contextlib.suppress(Exception):  # cannot travel: the caller checks them
                hello = pickle.dumps(("prep", [], "", 0, [], pickle.dumps(payloads, _PICKLE_PROTOCOL)))
        held: list[_Worker] = []
        broken: list[_Worker] = []
        try:
            while len(held) < self.count:
                w = idle.get()
                if not isinstance(w, _Worker):  # closed meanwhile
                    idle.put(w)
                    break
                held.append(w)
                if not (w.send(hello) and w.receive(0) == (True, [])):
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
        return self._spread(
            len(jobs),
            lambda a, b: ("sig", jobs[a:b]),
            lambda a, b: verify_signature_jobs(jobs[a:b]),
        )

    def prepare(
        self,
        items: Sequence[Any],
        network_id: str,
        chain_id: int,
        verify: Sequence[bool],
        payloads: PayloadRegistry | None,
    ) -> list[Prepared]:
        """`prepare_reports(items, ...)`, computed on the workers (small batches: here)."""

        def here(a: int, b: int) -> list[Prepared]:
            return prepare_reports(items[a:b], network_id, chain_id, verify[a:b], payloads)

        if len(items) < MIN_PARALLEL_JOBS:
            return here(0, len(items))
        try:
            shipped: bytes | None = pickle.dumps(payloads, _PICKLE_PROTOCOL)
        except Exception:  # a validator that cannot travel (a closure): checked by the caller
            shipped = None
        return self._spread(
            len(items),
            lambda a, b: ("prep", items[a:b], network_id, chain_id, verify[a:b], shipped),
            here,
        )

    def _spread(
        self,
        n: int,
        request: Callable[[int, int], tuple[Any, ...]],
        here: Callable[[int, int], list[Any]],
    ) -> list[Any]:
        """The answers to `request(a, b)` for consecutive ranges [a, b) covering `n` items,
        one range per idle worker, in order; a range a worker cannot answer is `here(a, b)`."""
        idle = self._ensure_started()
        held: list[_Worker] = []
        first = idle.get()  # we hold no worker yet, so this wait cannot deadlock
        wanted = min(self.count, n // MIN_CHUNK_JOBS)
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
            return here(0, n)
        size, extra = divmod(n, len(held))
        ranges: list[tuple[int, int]] = []
        start = 0
        for k in range(len(held)):
            end = start + size + (1 if k < extra else 0)
            ranges.append((start, end))
            start = end
        try:
            messages = [pickle.dumps(request(a, b), _PICKLE_PROTOCOL) for a, b in ranges]
        except Exception:  # not plain data (not from the codec): nothing was sent
            self._give_back(idle, held, [])
            return here(0, n)
        # Every reply is read before anything here can raise, so no worker goes back to the
        # idle queue with an answer still in its pipe; one that might have is replaced.
        answers: list[list[Any] | None] = []
        broken: list[_Worker] = []
        unread = list(held)
        try:
            sent = [w.send(m) for w, m in zip(held, messages, strict=True)]
            for w, (a, b), ok in zip(held, ranges, sent, strict=True):
                alive, got = w.receive(b - a) if ok else (False, None)
                unread.remove(w)
                if not alive:
                    broken.append(w)
                answers.append(got)
        finally:
            self._give_back(idle, held, broken + unread)
        results: list[Any] = []
        for (a, b), got in zip(ranges, answers, strict=True):
            if got is None:  # computed here: raises whatever the worker could not report
                got = here(a, b)
            else:
                self.jobs_on_workers += b - a
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
