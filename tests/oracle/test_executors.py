"""Executors: which spec names which, results by item whatever the completion order, a
failing shard stops the run, and a missing cluster is one clear configuration error."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from opendepin.errors import ConfigError
from opendepin.oracle.executors import (
    DaskExecutor,
    InlineExecutor,
    ProcessExecutor,
    check_executor,
    executor_for,
)


def _square_slowly(context: dict[str, Any], item: int) -> tuple[int, int, int]:
    time.sleep(0.05 * (item % 3))  # later items often finish first
    if item == context["fail_on"]:
        raise ValueError(f"shard {item} is broken")
    return item, item * item * context["factor"], os.getpid()


@pytest.mark.parametrize("spec", ["inline", "processes", "tcp://10.0.0.5:8786", "tls://sched:8786"])
def test_known_executor_specs_are_accepted(spec: str) -> None:
    check_executor(spec)


@pytest.mark.parametrize("spec", ["", "threads", "spark://x:7077", "tcp://", "http//x"])
def test_unknown_executor_specs_are_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"compute\.executor"):
        check_executor(spec)
    with pytest.raises(ConfigError, match=r"compute\.executor"):
        executor_for(spec)


def test_inline_runs_in_this_process_in_order() -> None:
    executor = executor_for("inline")
    assert isinstance(executor, InlineExecutor) and not executor.remote
    out = list(executor.run(_square_slowly, {"factor": 2, "fail_on": -1}, [1, 2, 3]))
    assert out == [(0, (1, 2, os.getpid())), (1, (2, 8, os.getpid())), (2, (3, 18, os.getpid()))]


def test_processes_run_every_item_once_on_other_processes() -> None:
    executor = ProcessExecutor(2)
    items = list(range(9))
    out = dict(executor.run(_square_slowly, {"factor": 3, "fail_on": -1}, items))
    assert sorted(out) == items
    assert all(out[i][:2] == (i, i * i * 3) for i in items)
    pids = {pid for _, _, pid in out.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_a_started_executor_runs_as_a_fresh_one() -> None:
    executor = ProcessExecutor(2)
    executor.start()
    executor.start()  # once running, starting again is harmless
    out = dict(executor.run(_square_slowly, {"factor": 5, "fail_on": -1}, [0, 1, 2, 3]))
    assert {i: out[i][:2] for i in out} == {i: (i, i * i * 5) for i in range(4)}


def test_a_failing_shard_stops_the_run() -> None:
    with pytest.raises(ValueError, match="shard 4 is broken"):
        dict(ProcessExecutor(2).run(_square_slowly, {"factor": 1, "fail_on": 4}, list(range(8))))
    with pytest.raises(ValueError, match="shard 1 is broken"):
        dict(InlineExecutor().run(_square_slowly, {"factor": 1, "fail_on": 1}, [0, 1, 2]))


def test_no_scheduler_at_the_address_is_a_config_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match=r"no Dask scheduler at tcp://127\.0\.0\.1:9"):
        DaskExecutor("tcp://127.0.0.1:9", timeout_seconds=1.0)
