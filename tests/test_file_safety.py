"""Files pfterm writes are its user's alone, whatever the umask: the journal and its WAL side
files, the log files and their rotated copies are created 0600 in 0700 directories; an
existing one open to others is tightened with a warning."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pfterm.core.runtime.config import Settings
from pfterm.core.runtime.session import open_journal
from pfterm.core.trading.credentials import CredentialsError, load_key
from pfterm.core.trading.journal import Journal
from pfterm.tui.cli import _private_log_handler


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_journal_and_its_side_files_are_created_owner_only(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "state" / "pfterm" / "journal.sqlite"
    journal = Journal(path)
    try:
        assert _mode(tmp_path / "state") == 0o700
        assert _mode(tmp_path / "state" / "pfterm") == 0o700
        assert _mode(path) == 0o600
        side = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in side)  # WAL mode: both exist while the journal is open
        assert [_mode(p) for p in side] == [0o600, 0o600]
    finally:
        journal.close()


def test_open_journal_creates_its_directory_owner_only(tmp_path: Path, umask_022: None) -> None:
    settings = Settings()
    settings.trading.journal = tmp_path / "data" / "journal.sqlite"
    journal = open_journal(settings)
    try:
        assert _mode(tmp_path / "data") == 0o700
        assert _mode(tmp_path / "data" / "journal.sqlite") == 0o600
    finally:
        journal.close()


def test_existing_directories_are_left_as_they_are(tmp_path: Path, umask_022: None) -> None:
    tmp_path.chmod(0o755)
    Journal(tmp_path / "journal.sqlite").close()
    assert _mode(tmp_path) == 0o755


def test_an_open_journal_is_tightened_with_a_warning(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="pfterm.core.trading.journal"):
        Journal(path).close()
    assert _mode(path) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "0644" in warnings[0] and "\n" not in warnings[0]


def test_a_journal_owned_by_another_user_is_not_chmodded(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    path.chmod(0o644)
    os.chown(path, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="pfterm.core.trading.journal"):
        Journal(path).close()
    assert _mode(path) == 0o644
    assert any("another user" in r.getMessage() for r in caplog.records)


def test_log_files_and_rotated_ones_are_owner_only(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "log" / "pfterm" / "pfterm.log"
    handler = _private_log_handler(path, 3)
    try:
        log = logging.getLogger("test_file_safety.rotation")
        log.propagate = False
        log.addHandler(handler)
        log.warning("first")
        handler.doRollover()
        log.warning("second")
        handler.doRollover()
        log.warning("third")
        log.removeHandler(handler)
    finally:
        handler.close()
    assert _mode(tmp_path / "log") == 0o700
    assert _mode(tmp_path / "log" / "pfterm") == 0o700
    files = sorted(path.parent.iterdir())
    assert [p.name for p in files] == ["pfterm.log", "pfterm.log.1", "pfterm.log.2"]
    assert {_mode(p) for p in files} == {0o600}


def test_an_open_log_file_is_tightened_with_a_warning(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pfterm.log"
    path.write_text("old\n")
    rotated = tmp_path / "pfterm.log.2"
    rotated.write_text("older\n")
    path.chmod(0o644)
    rotated.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        _private_log_handler(path, 3).close()
    assert _mode(path) == 0o600 and _mode(rotated) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("log file" in w for w in warnings)


# ---------------------------------------------------------------- the key file

KEY = "0x" + "4c" * 32


def _key_file(directory: Path, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hl.key"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    return path


def _refused(path: Path, words: str) -> None:
    with pytest.raises(CredentialsError) as info:
        load_key(path, {})
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message and KEY[2:] not in message and "4c4c" not in message


@pytest.fixture
def root_only() -> None:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")


@pytest.mark.parametrize("dir_mode", [0o700, 0o755, 0o1777])
def test_an_owner_only_key_file_is_accepted(tmp_path: Path, dir_mode: int) -> None:
    directory = tmp_path / "keys"
    path = _key_file(directory)
    directory.chmod(dir_mode)
    loaded = load_key(path, {})
    assert loaded is not None and loaded[1] == str(path)


def test_a_symlink_of_the_users_own_to_the_users_key_is_accepted(tmp_path: Path) -> None:
    target = _key_file(tmp_path / "keys")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    assert load_key(link, {}) is not None


def test_a_symlink_owned_by_another_user_is_refused(tmp_path: Path, root_only: None) -> None:
    target = _key_file(tmp_path / "keys")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    _refused(link, "symlink not owned by the current user")


def test_a_symlink_to_another_users_file_is_refused(tmp_path: Path, root_only: None) -> None:
    target = _key_file(tmp_path / "keys")
    os.chown(target, 65534, 65534)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    _refused(link, "the target of symlink")


def test_a_key_file_owned_by_another_user_is_refused(tmp_path: Path, root_only: None) -> None:
    path = _key_file(tmp_path / "keys")
    os.chown(path, 65534, 65534)
    _refused(path, "not owned by the current user")


@pytest.mark.parametrize("dir_mode", [0o777, 0o770, 0o757])
def test_a_key_in_a_directory_others_may_write_is_refused(tmp_path: Path, dir_mode: int) -> None:
    directory = tmp_path / "shared"
    path = _key_file(directory)
    directory.chmod(dir_mode)
    _refused(path, "no sticky bit")


def test_a_key_below_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    path = _key_file(tmp_path / "shared" / "mine")
    (tmp_path / "shared").chmod(0o777)
    _refused(path, f"{tmp_path / 'shared'}, which group/others may write")


def test_a_symlink_in_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    target = _key_file(tmp_path / "keys")
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "link.key"
    link.symlink_to(target)
    shared.chmod(0o777)
    _refused(link, "no sticky bit")
