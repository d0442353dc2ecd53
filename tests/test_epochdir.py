"""`opendepin.epochdir`: one name for every file of an epoch directory."""

from __future__ import annotations

from pathlib import Path

from opendepin.epochdir import (
    EPOCHS_DIR,
    INPUTS_DIR,
    KINDS_DIR,
    EpochFile,
    KindFile,
    epoch_dir,
    kind_path,
)


def test_epoch_dir_is_under_the_epochs_directory(tmp_path: Path) -> None:
    assert EPOCHS_DIR == "epochs"
    assert epoch_dir(tmp_path, 0) == tmp_path / "epochs" / "0"
    assert epoch_dir(tmp_path, 12) == tmp_path / "epochs" / "12"
    assert epoch_dir(tmp_path, 3).parent == epoch_dir(tmp_path, 4).parent


def test_kind_path_is_relative_under_kinds() -> None:
    assert KINDS_DIR == "kinds"
    assert kind_path("coverage", KindFile.STATE) == "kinds/coverage/state_v1.json"
    assert kind_path("heartbeat", KindFile.NEXT_STATE) == "kinds/heartbeat/next_state_v1.json"
    assert kind_path("coverage", "denylist_v1.json") == "kinds/coverage/denylist_v1.json"
    assert not Path(kind_path("x", "y")).is_absolute()


def test_epoch_files_are_unique_and_at_the_top_level() -> None:
    values = [f.value for f in EpochFile]
    assert len(values) == len(set(values))
    assert all("/" not in v and v.endswith(".json") for v in values)
    assert EpochFile.MANIFEST.value == "manifest_v1.json"
    assert EpochFile.REWARDS.value == "rewards_v1.json"


def test_kind_files_are_unique_and_distinct_from_epoch_files() -> None:
    values = [f.value for f in KindFile]
    assert len(values) == len(set(values))
    assert set(values) == {"state_v1.json", "next_state_v1.json"}
    assert not set(values) & {f.value for f in EpochFile}


def test_directories_are_distinct() -> None:
    assert len({EPOCHS_DIR, INPUTS_DIR, KINDS_DIR}) == 3


def test_the_store_and_the_runner_use_the_same_epoch_directory(tmp_path: Path) -> None:
    from opendepin.store.sealing import epoch_dir as sealing_epoch_dir

    assert sealing_epoch_dir(tmp_path, 5) == epoch_dir(tmp_path, 5)
