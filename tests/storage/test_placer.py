"""Placer against eight real nodes (4/5/6/8): round trips, ranges, failures, corruption, deletes."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from opendepin.records import DeviceRecord
from opendepin.storage.directory import NodeDirectory, PlacerError
from opendepin.storage.erasure import Redundancy
from opendepin.storage.metadata import pieces
from opendepin.storage.placer import Placer
from opendepin.types import Address, DeviceId

from .cluster import CHAIN_ID, NETWORK, Cluster

SEG = 64 * 1024


@pytest.fixture
def placer(cluster: Cluster, tmp_path) -> Iterator[Placer]:  # type: ignore[no-untyped-def]
    p = cluster.placer(f"sqlite:///{tmp_path / 'meta.db'}", segment_size=SEG)
    p.metadata.create_bucket("b", p.now_ms())
    yield p
    p.close()
    p.metadata.close()


def _gets(cluster: Cluster) -> int:
    total = 0
    for n in cluster.nodes:
        orders = httpx.get(f"{n.url}/v1/orders?limit=100000").json()["orders"]
        total += sum(1 for o in orders if o["action"] == "get")
    return total


def test_round_trips_on_both_databases(cluster: Cluster, database_url: str) -> None:
    p = cluster.placer(database_url, segment_size=SEG)
    try:
        p.metadata.create_bucket("b", p.now_ms())
        for size in (0, 1, SEG - 1, SEG, SEG + 1, 3 * 1024 * 1024 + 17):
            data = os.urandom(size)
            row = p.put_object("b", f"obj-{size}", io.BytesIO(data), user_metadata={"n": str(size)})
            assert row.size == size and row.etag == hashlib.md5(data).hexdigest()
            assert p.read_object("b", f"obj-{size}") == data
            segs = p.metadata.segments(row.id)
            assert len(segs) == max(1, -(-size // SEG))
            for seg in segs:
                live = [x for x in p.metadata.pieces(row.id, seg.idx) if x.live]
                assert len(live) == 8 and len({x.node for x in live}) == 8
    finally:
        p.close()
        p.metadata.close()


def test_streamed_chunks_are_accepted(placer: Placer) -> None:
    data = os.urandom(5 * SEG + 3)
    chunks = (data[i : i + 1000] for i in range(0, len(data), 1000))
    placer.put_object("b", "chunked", chunks)
    assert placer.read_object("b", "chunked") == data


def test_ranged_reads_fetch_only_the_needed_segments(cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(4 * SEG + 100)
    placer.put_object("b", "r", io.BytesIO(data))
    for offset, length in [
        (0, 10),
        (SEG - 5, 10),
        (2 * SEG, SEG),
        (4 * SEG + 99, 50),
        (len(data), 5),
    ]:
        assert placer.read_object("b", "r", offset, length) == data[offset : offset + length]
    before = _gets(cluster)
    assert placer.read_object("b", "r", SEG + 10, 100) == data[SEG + 10 : SEG + 110]
    assert _gets(cluster) - before == 4  # one segment, k = 4 pieces, no parity needed
    with pytest.raises(PlacerError, match="invalid_range"):
        placer.get_object("b", "r", len(data) + 1)
    with pytest.raises(PlacerError, match="no_such_object"):
        placer.get_object("b", "nope")


def test_readable_with_n_minus_k_nodes_down(cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(3 * SEG + 5)
    row = placer.put_object("b", "k", io.BytesIO(data))
    holders = {x.node for x in placer.metadata.pieces(row.id, 0) if x.number < 4}
    down = [n for n in cluster.nodes if n.node in holders]
    for n in down:  # the four nodes of the systematic pieces: decoding from parity is needed
        n.stop()
    placer.directory.refresh()
    assert placer.read_object("b", "k") == data
    next(n for n in cluster.nodes if n.node not in holders).stop()  # a fifth: only 3 left
    placer.directory.refresh()
    with pytest.raises(PlacerError, match="segment_unavailable"):
        placer.read_object("b", "k")


def test_corrupt_piece_on_disk_is_skipped(cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(SEG)
    row = placer.put_object("b", "c", io.BytesIO(data))
    first = next(x for x in placer.metadata.pieces(row.id, 0) if x.number == 0)
    path = cluster.by_node(first.node).piece_path(first.piece_id)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert placer.read_object("b", "c") == data


def test_placer_checks_roots_itself(placer: Placer) -> None:
    """A piece whose bytes differ from the root the placer recorded is not used."""
    data = os.urandom(SEG)
    row = placer.put_object("b", "c", io.BytesIO(data))
    target = next(x for x in placer.metadata.pieces(row.id, 0) if x.number == 1)
    with placer.metadata.transaction() as conn:
        conn.execute(
            update(pieces).where(pieces.c.piece_id == target.piece_id.hex()).values(root="00" * 32)
        )
    bad = next(x for x in placer.metadata.pieces(row.id, 0) if x.number == 1)
    with pytest.raises(Exception, match="root_mismatch"):
        placer.fetch_piece(bad)
    assert placer.read_object("b", "c") == data


def test_too_few_nodes_is_refused_before_upload(cluster: Cluster, placer: Placer) -> None:
    for n in cluster.nodes[:3]:
        n.stop()
    placer.directory.refresh()
    with pytest.raises(PlacerError, match="not_enough_nodes") as err:
        placer.put_object("b", "k", io.BytesIO(b"hello"))
    assert "3 unreachable" in str(err.value)
    assert placer.metadata.get_object("b", "k") is None


def test_failed_upload_leaves_nothing_visible(cluster: Cluster, placer: Placer) -> None:
    data = os.urandom(2 * SEG)
    placer.put_object("b", "k", io.BytesIO(data))
    for n in cluster.nodes[:3]:  # down after the directory saw them: PUTs fail
        n.stop()
    with pytest.raises(PlacerError, match="upload_failed"):
        placer.put_object("b", "k", io.BytesIO(os.urandom(3 * SEG)))
    assert placer.read_object("b", "k") == data  # the old version is still there
    assert placer.metadata.abandoned_uploads(placer.now_ms() + 1) == []
    placed_now = sum(len(list((n.directory / "pieces").rglob("*.json"))) for n in cluster.nodes[3:])
    assert placed_now == 2 * 5  # only the first object's pieces on the five live nodes


def test_overwrite_and_delete_remove_pieces_from_nodes(cluster: Cluster, placer: Placer) -> None:
    def files() -> int:
        return sum(len(list((n.directory / "pieces").rglob("*.json"))) for n in cluster.nodes)

    placer.put_object("b", "k", io.BytesIO(os.urandom(2 * SEG)))
    assert files() == 16
    new = os.urandom(SEG)
    placer.put_object("b", "k", io.BytesIO(new))
    assert files() == 8 and placer.read_object("b", "k") == new
    down = cluster.nodes[0]
    down.stop()
    placer.directory.refresh()
    done, pending = placer.delete_object("b", "k")
    assert (done, pending) == (7, 1) and placer.metadata.get_object("b", "k") is None
    down.start()
    placer.directory.refresh()
    assert placer.flush_deletes() == (1, 0)
    assert files() == 0


def test_selection_spreads_owners_and_limits_vetting(cluster: Cluster) -> None:
    owners = [Address(f"0x{i:040x}") for i in range(1, 5)]
    registry = {
        DeviceId(n.node): DeviceRecord(n.node, owners[i % 4], "storage", 0, True)  # type: ignore[arg-type]
        for i, n in enumerate(cluster.nodes)
    }
    ids = [n.node for n in cluster.nodes]
    directory = NodeDirectory(
        [n.url for n in cluster.nodes], network=NETWORK, chain_id=CHAIN_ID, registry=registry,
        disqualified={ids[0]}, vetting={ids[1], ids[2], ids[3]},
    )  # fmt: skip
    try:
        directory.refresh()
        four = directory.select(4, minimum=4, need_bytes=1, seed=1)
        assert len({e.owner for e in four}) == 4
        assert ids[0] not in {e.node for e in four}
        assert sum(e.node in {ids[1], ids[2], ids[3]} for e in four) <= 1
        assert [e.node for e in directory.select(4, minimum=4, need_bytes=1, seed=1)] == [
            e.node for e in four
        ]
        everything = directory.select(8, minimum=7, need_bytes=1, seed=2)
        assert len(everything) == 7 and ids[0] not in {e.node for e in everything}
        with pytest.raises(PlacerError, match="1 disqualified"):
            directory.select(8, minimum=8, need_bytes=1)
        with pytest.raises(PlacerError, match="no_space"):
            directory.select(4, minimum=4, need_bytes=1 << 40)
    finally:
        directory.close()


def test_unregistered_nodes_are_not_used(cluster: Cluster) -> None:
    registry = {
        DeviceId(cluster.nodes[0].node): DeviceRecord(
            cluster.nodes[0].node, Address("0x" + "11" * 20), "storage", 0, True
        )
    }  # type: ignore[arg-type]
    directory = NodeDirectory(
        [n.url for n in cluster.nodes], network=NETWORK, chain_id=CHAIN_ID, registry=registry
    )
    try:
        directory.refresh()
        assert [e.node for e in directory.entries if e.usable] == [cluster.nodes[0].node]
        with pytest.raises(PlacerError, match="7 unregistered"):
            directory.select(6, minimum=6, need_bytes=1)
    finally:
        directory.close()


def test_wrong_redundancy_for_the_cluster(cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = cluster.placer(f"sqlite:///{tmp_path / 'm.db'}", redundancy=Redundancy(4, 6, 9, 10))
    try:
        p.metadata.create_bucket("b", 1)
        with pytest.raises(PlacerError, match="not_enough_nodes"):
            p.put_object("b", "k", io.BytesIO(b"x"))
        assert p.metadata.list_objects("b") == []
    finally:
        p.close()
        p.metadata.close()


def test_cli_put_get_ls_rm_repair(cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import typer
    from typer.testing import CliRunner

    from opendepin.cli.storage_client_cmd import register

    app = typer.Typer()
    register(app)
    key_file = tmp_path / "placer.key"
    key_file.write_text(cluster.placer_key.private_bytes().hex())
    key_file.chmod(0o600)
    config = tmp_path / "network.toml"
    config.write_text(f'[network]\nnetwork_id = "{NETWORK}"\nchain_id = {CHAIN_ID}\n')
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("# the test nodes\n" + "\n".join(n.url for n in cluster.nodes) + "\n")
    common = [
        "--db",
        f"sqlite:///{tmp_path / 'cli.db'}",
        "--nodes",
        str(nodes),
        "--key",
        str(key_file),
        "--config",
        str(config),
    ]
    data = os.urandom(100_000)
    src, out = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    runner = CliRunner()
    put = runner.invoke(app, ["put", "photos", "a.bin", str(src), *common])
    assert put.exit_code == 0, put.output
    assert "100000 bytes" in put.output
    got = runner.invoke(app, ["get", "photos", "a.bin", "--out", str(out), *common])
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == data
    listed = runner.invoke(app, ["ls", "photos", "--json", "--db", common[1]])
    assert listed.exit_code == 0 and '"a.bin"' in listed.output
    repaired = runner.invoke(app, ["repair", *common])
    assert repaired.exit_code == 0 and "0 unhealthy" in repaired.output
    removed = runner.invoke(app, ["rm", "photos", "a.bin", *common])
    assert removed.exit_code == 0 and "8 pieces removed" in removed.output
    missing = runner.invoke(app, ["get", "photos", "a.bin", "--out", str(out), *common])
    assert missing.exit_code != 0 and isinstance(missing.exception, PlacerError)
    bad_nodes = tmp_path / "bad.txt"
    bad_nodes.write_text("ftp://x\n")
    bad = runner.invoke(
        app, ["put", "photos", "b", str(src), *common[:2], "--nodes", str(bad_nodes), *common[4:]]
    )
    assert bad.exit_code != 0 and "bad.txt:1" in str(bad.exception)
