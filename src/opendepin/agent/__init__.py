"""The device agent: the software on a device that reports its work and claims its rewards.

`DeviceAgent` (in `agent.device`) signs reports with the device key, numbers them with
sequence numbers that survive restarts, queues them durably and delivers them to an ingest
node with exponential backoff; `agent.onchain` registers the device and claims rewards;
`depin agent …` (`cli.agent_cmd`) is the command-line face of both. See each module's
docstring for the guarantees.
"""

from opendepin.agent.backoff import Backoff, Clock, ManualClock, SystemClock
from opendepin.agent.config import AgentConfig, load_config, save_config
from opendepin.agent.device import DeviceAgent, FlushResult
from opendepin.agent.onchain import RewardStatement, fetch_rewards, register_device
from opendepin.agent.sender import IngestSender, Rejected, SendOutcome
from opendepin.agent.state import SequenceStore, Spool

__all__ = [
    "AgentConfig",
    "Backoff",
    "Clock",
    "DeviceAgent",
    "FlushResult",
    "IngestSender",
    "ManualClock",
    "Rejected",
    "RewardStatement",
    "SendOutcome",
    "SequenceStore",
    "Spool",
    "SystemClock",
    "fetch_rewards",
    "load_config",
    "register_device",
    "save_config",
]
