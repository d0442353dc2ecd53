"""A user's mistake is one `error:` line and exit 1 — never a traceback (part 4 of issue 13).

Most cases run the real entry point (`opendepin.cli.app.run`, the same `main` the console
script calls, which turns a `DepinError` into `error: …`) in-process inside click's test
isolation: stdin is then not a terminal, stdout and stderr are captured separately. The
`--version` flag, and `depin chain anvil` (signals, a port already serving a chain), run as
real subprocesses. No case needs a chain node except the anvil ones (marked `anvil`): an
unreachable node is `http://127.0.0.1:1`, where nothing ever listens.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from opendepin.agent.onchain import RewardStatement
from opendepin.chain import rpc as rpc_module
from opendepin.chain.anvil import AnvilProcess, free_port
from opendepin.cli import agent_cmd, chain_cmd
from opendepin.cli.app import app, package_version, run
from opendepin.identity import DeviceKey, save_keystore
from opendepin.types import Address

DEAD_RPC = "http://127.0.0.1:1"
"""Port 1 (tcpmux) is never served here: connecting is refused at once."""
LOW_SCRYPT_N = 2**10
"""Keystore work factor for tests only."""
PASS_ENV = "CLI_ERRORS_TEST_PASS"
PASSPHRASE = "cli errors test passphrase"
ORACLE_A = "0x" + "11" * 20
ORACLE_B = "0x" + "22" * 20
GOOD_MIXED = "0x52908400098527886E0F7030069857D2E4169EE7"
"""EIP-55's own example: a correct mixed-case checksum."""
BAD_MIXED = "0x52908400098527886e0F7030069857D2E4169EE7"
"""The same address with one letter's case flipped: a wrong checksum."""
TOOLS_BIN = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin"
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) ")


@dataclass(frozen=True)
class Outcome:
    """What one `depin …` invocation did."""

    code: int
    stdout: str
    stderr: str


def depin(*args: str, env: dict[str, str | None] | None = None) -> Outcome:
    """`depin ARGS…` through the console-script entry point, in-process."""
    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _):
        try:
            run(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Outcome(code, stdout, stderr)


def error_line(outcome: Outcome, *, logs_allowed: bool = False) -> str:
    """The one `error:` line of a failed run (exit 1, no traceback, nothing else on stderr)."""
    assert outcome.code == 1, outcome
    assert "Traceback" not in outcome.stdout + outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if logs_allowed:
        lines = [line for line in lines if not _LOG_LINE.match(line)]
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ./network.toml from elsewhere, no DEPIN_* overrides, and no slow RPC retries."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("DEPIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(rpc_module, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with deployment.json (an embedded deployment) and a keystore key.json."""
    root = tmp_path_factory.mktemp("net")
    save_keystore(DeviceKey.generate(), root / "key.json", PASSPHRASE, scrypt_n=LOW_SCRYPT_N)
    deployed = CliRunner().invoke(
        app, ["chain", "deploy", "--dir", str(root), "--oracle", ORACLE_A, "--oracle", ORACLE_B]
    )
    assert deployed.exit_code == 0, deployed.output
    return root


@pytest.fixture
def agent_dir(tmp_path: Path, network: Path) -> Path:
    """An initialised agent whose node is unreachable and whose ingest is dead."""
    directory = tmp_path / "agent"
    init = depin(
        "agent", "init", "--dir", str(directory), "--netdir", str(network),
        "--rpc", DEAD_RPC, "--ingest-url", f"http://127.0.0.1:{free_port()}",
        "--lat", "38.7223", "--lon", "-9.1393",
        "--passphrase-env", PASS_ENV, "--scrypt-n", str(LOW_SCRYPT_N),
    )  # fmt: skip
    assert init.code == 0, init
    return directory


# -- an unreachable chain node ------------------------------------------------------------


def _signing(network: Path) -> list[str]:
    return ["--keystore", str(network / "key.json"), "--passphrase-env", PASS_ENV]


@pytest.mark.parametrize(
    "command",
    [
        ["chain", "fund", ORACLE_A, "--rpc", DEAD_RPC],
        ["chain", "mine", "--rpc", DEAD_RPC],
        ["chain", "mine", "--advance-seconds", "60", "--rpc", DEAD_RPC],
        ["chain", "deploy", "--rpc", DEAD_RPC, "--oracle", ORACLE_A, "--oracle", ORACLE_B, "{keys}"],
        ["chain", "gov", "status", "--dir", "{net}", "--rpc", DEAD_RPC],
        ["chain", "gov", "propose", "set-price", "5", "--dir", "{net}", "--rpc", DEAD_RPC, "{keys}"],
        ["chain", "gov", "execute", "0x" + "00" * 32, "--dir", "{net}", "--rpc", DEAD_RPC, "{keys}"],
        ["chain", "gov", "cancel", "0x" + "00" * 32, "--dir", "{net}", "--rpc", DEAD_RPC, "{keys}"],
        ["oracle", "run-epoch", "0", "--netdir", "{net}", "--rpc", DEAD_RPC, "{keys}"],
        ["oracle", "serve", "--netdir", "{net}", "--rpc", DEAD_RPC, "--port", "{port}", "{keys}"],
        ["status", "--netdir", "{net}", "--rpc", DEAD_RPC],
    ],
    ids=lambda c: " ".join(w for w in c[:3] if not w.startswith(("-", "{", "0x"))),
)
def test_unreachable_rpc_node_is_one_line_naming_the_url(command: list[str], network: Path) -> None:
    args: list[str] = []
    for word in command:
        if word == "{keys}":
            args += _signing(network)
        else:
            args.append(word.replace("{net}", str(network)).replace("{port}", str(free_port())))
    line = error_line(depin(*args))
    assert DEAD_RPC in line
    assert "Connection refused" in line
    assert "HTTPConnectionPool" not in line  # the transport's layers of reprs are cut away


def test_rpc_url_from_network_toml_pointing_nowhere_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "network.toml").write_text(f'[chain]\nrpc_url = "{DEAD_RPC}"\n')
    line = error_line(depin("chain", "fund", ORACLE_A))
    assert line == f"error: cannot reach the JSON-RPC node at {DEAD_RPC}: [Errno 111] Connection refused"


def test_agent_register_with_unreachable_node_is_one_line(agent_dir: Path, network: Path) -> None:
    args = ["agent", "register", "--dir", str(agent_dir), "--owner-keystore", str(network / "key.json")]
    line = error_line(depin(*args, "--owner-passphrase-env", PASS_ENV, "--passphrase-env", PASS_ENV))
    assert f"cannot reach the JSON-RPC node at {DEAD_RPC}" in line


@pytest.mark.parametrize("command", ["rewards", "claim"])
def test_agent_rewards_and_claim_with_unreachable_node_are_one_line(
    command: str, agent_dir: Path, network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Address(ORACLE_A)

    async def statement(url: str, who: Address) -> RewardStatement:
        return RewardStatement(who, 0, 10**18, ())  # type: ignore[arg-type]

    monkeypatch.setattr(agent_cmd, "fetch_rewards", statement)
    extra = (
        ["--sender-keystore", str(network / "key.json"), "--sender-passphrase-env", PASS_ENV]
        if command == "claim"
        else []
    )
    line = error_line(depin("agent", command, "--dir", str(agent_dir), "--account", account, *extra))
    assert f"cannot reach the JSON-RPC node at {DEAD_RPC}" in line


class _QuietHandler(BaseHTTPRequestHandler):
    """Answers nothing but errors (501 to a POST) and logs nothing."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_a_node() -> Iterator[str]:
    """An HTTP server that is not a JSON-RPC node (POST answers 501)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rpc_url_of_something_else_is_one_line(not_a_node: str) -> None:
    line = error_line(depin("chain", "fund", ORACLE_A, "--rpc", not_a_node))
    assert f"JSON-RPC node at {not_a_node} failed: 501" in line


def test_malformed_rpc_url_is_one_line() -> None:
    line = error_line(depin("chain", "fund", ORACLE_A, "--rpc", "localhost8545"))
    assert "JSON-RPC node at localhost8545 failed: Invalid URL" in line


# -- network.toml that is not TOML --------------------------------------------------------


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nnetwork_id = "x"\nchain_id = = 3\n')
    line = error_line(depin("config", "show", "--config", str(bad)))
    assert line == f"error: {bad}:3:12: invalid TOML: Invalid value"


def test_toml_syntax_error_in_default_network_toml(tmp_path: Path) -> None:
    (tmp_path / "network.toml").write_text("[chain\n")
    line = error_line(depin("chain", "fund", ORACLE_A))
    assert line.startswith("error: network.toml:1:7: invalid TOML: ")


def test_toml_error_at_end_of_file_names_its_last_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nnetwork_id = "unterminated')
    line = error_line(depin("config", "show", "-c", str(bad)))
    assert line == f"error: {bad}:2:27: invalid TOML: Unterminated string (at end of file)"


def test_agent_toml_syntax_error_names_file_line_and_column(agent_dir: Path) -> None:
    toml = agent_dir / "agent.toml"
    toml.write_text("kind = heartbeat\n" + toml.read_text())
    line = error_line(depin("agent", "rewards", "--dir", str(agent_dir)))
    assert line.startswith(f"error: {toml}:1:8: invalid TOML: ")


# -- ports ----------------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something listens on (not a chain node: it never answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_explorer_port_out_of_range_and_in_use(tmp_path: Path, taken_port: int) -> None:
    for port in ("0", "70000"):
        line = error_line(depin("explorer", "--dir", str(tmp_path), "--port", port))
        assert line == f"error: --port {port} is out of range: a TCP port is 1-65535"
    line = error_line(depin("explorer", "--dir", str(tmp_path), "--port", str(taken_port)))
    assert line == (
        f"error: port {taken_port} on 127.0.0.1 is already in use; "
        "stop what listens there or choose another --port"
    )


def test_oracle_serve_port_out_of_range_and_in_use(network: Path, taken_port: int) -> None:
    """Checked before the keystore is decrypted and before the node is asked anything."""
    common = ["oracle", "serve", "--netdir", str(network), "--rpc", DEAD_RPC, *_signing(network)]
    line = error_line(depin(*common, "--port", "65536"))
    assert line == "error: --port 65536 is out of range: a TCP port is 1-65535"
    line = error_line(depin(*common, "--port", str(taken_port)))
    assert f"port {taken_port} on 127.0.0.1 is already in use" in line


def test_oracle_serve_unresolvable_host_is_one_line(network: Path) -> None:
    args = ["oracle", "serve", "--netdir", str(network), *_signing(network), "--host", "no-such-host.invalid"]
    line = error_line(depin(*args, "--port", str(free_port())))
    assert line.startswith("error: cannot listen on no-such-host.invalid: ")


def test_chain_anvil_port_out_of_range() -> None:
    line = error_line(depin("chain", "anvil", "--port", "99999"))
    assert line == "error: --port 99999 is out of range: a TCP port is 1-65535"


@pytest.mark.anvil
def test_chain_anvil_refuses_a_port_taken_by_something_else(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}")
    line = error_line(depin("chain", "anvil", "--port", str(taken_port)))
    assert line == (
        f"error: port {taken_port} on 127.0.0.1 is already in use (not by a chain node); "
        "choose another port"
    )


# -- passphrases ------------------------------------------------------------------------


def test_no_passphrase_and_no_terminal_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    line = error_line(depin("keys", "new", "--out", str(out)))
    assert line == (
        f"error: no passphrase for keystore {out}: stdin is not a terminal, so it cannot be "
        "asked; put it in an environment variable and pass --passphrase-env VAR"
    )
    assert not out.exists()


def test_no_owner_passphrase_and_no_terminal_names_the_owner_option(
    agent_dir: Path, network: Path
) -> None:
    args = ["agent", "register", "--dir", str(agent_dir), "--owner-keystore", str(network / "key.json")]
    line = error_line(depin(*args, "--passphrase-env", PASS_ENV))
    assert "no passphrase for the owner" in line and "--owner-passphrase-env VAR" in line


def test_unknown_executor_is_one_line(network: Path) -> None:
    args = ["oracle", "run-epoch", "0", "--netdir", str(network), "--keystore", str(network / "key.json")]
    line = error_line(depin(*args, "--executor", "spark://nowhere"))
    assert line.startswith("error: compute.executor 'spark://nowhere': use \"processes\", \"inline\"")


def test_named_passphrase_variable_unset_is_one_line(network: Path) -> None:
    args = ["oracle", "run-epoch", "0", "--netdir", str(network), "--keystore", str(network / "key.json")]
    line = error_line(depin(*args, "--passphrase-env", "CLI_ERRORS_UNSET_VAR"))
    assert line == (
        f"error: $CLI_ERRORS_UNSET_VAR is not set; set it to the passphrase of keystore {network / 'key.json'}"
    )


# -- strict EIP-55 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["chain", "fund", BAD_MIXED, "--rpc", DEAD_RPC], "account"),
        (["chain", "deploy", "--oracle", BAD_MIXED, "--oracle", ORACLE_B], "oracle"),
        (["chain", "deploy", "--oracle", ORACLE_A, "--oracle", ORACLE_B, "--guardian", BAD_MIXED], "guardian"),
        (["chain", "gov", "propose", "set-guardian", BAD_MIXED, "--dir", "{net}", "--rpc", DEAD_RPC], "guardian"),
        (["chain", "gov", "propose", "set-oracles", "1", BAD_MIXED, "--dir", "{net}", "--rpc", DEAD_RPC], "oracle"),
        (["chain", "gov", "propose", "set-minter", BAD_MIXED, "true", "--dir", "{net}", "--rpc", DEAD_RPC], "minter"),
        (["agent", "init", "--dir", "{tmp}", "--registry", BAD_MIXED], "--registry"),
        (["agent", "init", "--dir", "{tmp}", "--distributor", BAD_MIXED], "--distributor"),
    ],
    ids=lambda c: "-".join(c[:3]) if isinstance(c, list) else c,
)
def test_wrong_checksum_is_refused_never_fixed(
    command: list[str], what: str, network: Path, tmp_path: Path
) -> None:
    args = [w.replace("{net}", str(network)).replace("{tmp}", str(tmp_path / "a")) for w in command]
    line = error_line(depin(*args))
    assert line == f"error: {what}: address {BAD_MIXED!r} has a wrong EIP-55 checksum"


def test_agent_rewards_account_with_wrong_checksum_is_refused(agent_dir: Path) -> None:
    line = error_line(depin("agent", "rewards", "--dir", str(agent_dir), "--account", BAD_MIXED))
    assert "wrong EIP-55 checksum" in line and BAD_MIXED in line


@pytest.mark.parametrize("text", [GOOD_MIXED, GOOD_MIXED.lower(), "0x" + GOOD_MIXED[2:].upper()])
def test_correct_checksum_all_lower_and_all_upper_are_accepted(text: str) -> None:
    assert chain_cmd._parse_address(text, "account") == GOOD_MIXED


def test_correctly_typed_address_gets_past_parsing() -> None:
    line = error_line(depin("chain", "fund", GOOD_MIXED.lower(), "--rpc", DEAD_RPC))
    assert "cannot reach the JSON-RPC node" in line  # parsed, then the node was asked


@pytest.mark.parametrize("text", ["0x1234", "52908400098527886E0F7030069857D2E4169EE7", "0x" + "zz" * 20])
def test_malformed_address_is_refused(text: str) -> None:
    line = error_line(depin("chain", "fund", text, "--rpc", DEAD_RPC))
    assert line.startswith("error: account: ")


# -- the device agent -----------------------------------------------------------------


def test_agent_run_once_with_dead_ingest_exits_1(agent_dir: Path) -> None:
    outcome = depin("agent", "run", "--dir", str(agent_dir), "--once", "--passphrase-env", PASS_ENV)
    line = error_line(outcome, logs_allowed=True)
    assert line.startswith("error: no report accepted by ingest http://127.0.0.1:")
    assert f"1 queued in {agent_dir / 'agent.db'} for the next run" in line
    assert "accepted 0, rejected 0, queued 1" in outcome.stdout


def test_agent_run_gives_up_on_a_dead_ingest_after_the_bound(agent_dir: Path) -> None:
    outcome = depin(
        "agent", "run", "--dir", str(agent_dir), "--count", "2", "--interval", "0.01",
        "--give-up-after", "2", "--passphrase-env", PASS_ENV,
    )  # fmt: skip
    line = error_line(outcome, logs_allowed=True)
    assert "gave up after 2 failed attempts in a row: unavailable: ConnectError" in line
    assert "queued in" in line


@pytest.mark.parametrize(
    ("lat", "lon", "option"),
    [("95", "10", "--lat"), ("-90.5", "10", "--lat"), ("10", "180.01", "--lon"), ("nan", "10", "--lat"), ("10", "inf", "--lon")],
)
def test_agent_init_refuses_coordinates_out_of_range(
    lat: str, lon: str, option: str, tmp_path: Path
) -> None:
    target = tmp_path / "a"
    line = error_line(
        depin("agent", "init", "--dir", str(target), "--lat", lat, "--lon", lon, "--passphrase-env", PASS_ENV)
    )
    assert line.startswith(f"error: {option} ") and "is out of range: degrees from" in line
    assert not target.exists()


def test_agent_init_refuses_an_unknown_kind(tmp_path: Path) -> None:
    target = tmp_path / "a"
    line = error_line(depin("agent", "init", "--dir", str(target), "--kind", "nosuch", "--passphrase-env", PASS_ENV))
    assert line.startswith("error: no proof kind 'nosuch' is installed (installed: ")
    assert not target.exists()


# -- version and help -------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opendepin", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"depin {package_version()}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", package_version())


def _options(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every option of `command` and its subcommands, with the command line reaching it.

    typer 0.29 builds on its own copy of click (`typer._click`), so options are
    `typer.core.TyperOption` and groups are recognised by their `commands`; a plain
    `click.Option` (none today) would count too.
    """
    for param in command.params:
        if isinstance(param, TyperOption | click.Option):
            yield path, param
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _options(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    found = list(_options(typer.main.get_command(app), "depin"))
    assert len(found) > 100  # the walk reached the subcommands
    assert "depin agent init" in {path for path, _ in found}
    missing = [f"{path} {'/'.join(option.opts)}" for path, option in found if not (option.help or "").strip()]
    assert missing == []


# -- depin chain anvil: signals and a port already serving a chain ------------------------


def _anvil_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPIN_")}
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
    return env


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.anvil
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_chain_anvil_stops_its_node_on_signal(signum: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opendepin", "chain", "anvil", "--port", str(port)],
        cwd=tmp_path, env=_anvil_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until anvil answers (or the command fails)
        assert f"anvil listening on http://127.0.0.1:{port}" in first, proc.stderr.read() if proc.stderr else ""
        (node,) = _children(proc.pid)
        assert _alive(node)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "anvil stopped" in out and "Traceback" not in err
    assert not _alive(node)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


@pytest.mark.anvil
def test_chain_anvil_refuses_a_port_already_serving_a_chain(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=31337) as node:
        done = subprocess.run(
            [sys.executable, "-m", "opendepin", "chain", "anvil", "--port", str(node.port)],
            cwd=tmp_path, env=_anvil_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert node.running()  # the node already there is left alone
    line = error_line(Outcome(done.returncode, done.stdout, done.stderr))
    assert line == (
        f"error: {node.url} already serves a chain (chain id 31337); "
        "stop that node or choose another port"
    )


def test_explorer_chain_options_go_together_and_a_dead_node_is_one_line(tmp_path: Path, network: Path) -> None:
    line = error_line(depin("explorer", "--dir", str(tmp_path), "--rpc", DEAD_RPC))
    assert line == "error: --rpc and --netdir go together: the node to ask, and the deployment.json to ask about"
    line = error_line(depin("explorer", "--dir", str(tmp_path), "--netdir", str(tmp_path), "--rpc", DEAD_RPC))
    assert line.startswith("error: no deployment.json in ")
    line = error_line(depin("explorer", "--dir", str(tmp_path), "--netdir", str(network), "--rpc", DEAD_RPC))
    assert line.startswith(f"error: cannot reach the JSON-RPC node at {DEAD_RPC}")
