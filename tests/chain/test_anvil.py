"""AnvilProcess: started with --prune-history, answers, and is gone after the block."""

from __future__ import annotations

import pytest

from opendepin.chain import AnvilProcess, RpcChain
from opendepin.chain.anvil import anvil_command, find_anvil

pytestmark = pytest.mark.anvil


def test_anvil_command_always_prunes_history() -> None:
    cmd = anvil_command(find_anvil(), 8545, 99)
    assert "--prune-history" in cmd
    assert cmd[cmd.index("--chain-id") + 1] == "99"


def test_anvil_process_starts_answers_and_stops() -> None:
    with AnvilProcess(chain_id=4321) as node:
        assert node.running()
        assert RpcChain(node.url).chain_id == 4321
    assert not node.running()
