"""Keystores: V3 files with mode 0600, geth/MetaMask compatible, never printing the private key."""

from __future__ import annotations

import json
import stat

import pytest
from cli_helpers import assert_clean_failure, ichain
from eth_account import Account
from eth_keyfile import create_keyfile_json

from ichain_tui import locations
from ichain_tui.chain.errors import WalletError
from ichain_tui.chain.wallet import Wallet, public_key, unlock_file

PASSWORD = "correct horse battery"


def test_new_keystore_is_private_and_unlocks(tmp_path):
    wallet = Wallet(tmp_path / "ks")
    entry = wallet.create(PASSWORD)
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.path.parent.stat().st_mode) == 0o700
    data = json.loads(entry.path.read_text())
    assert data["version"] == 3 and data["crypto"]["cipher"] == "aes-128-ctr"
    assert entry.path.name.startswith("UTC--") and entry.path.name.endswith(entry.address[2:].lower())
    account = wallet.unlock(PASSWORD)
    assert account.address == entry.address
    assert len(public_key(account)) == 64


def test_wrong_password_and_corrupt_files_are_clear_errors(tmp_path):
    wallet = Wallet(tmp_path)
    entry = wallet.create(PASSWORD)
    with pytest.raises(WalletError, match="wrong password"):
        wallet.unlock("not the password")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(WalletError, match="not readable"):
        unlock_file(broken, PASSWORD)
    with pytest.raises(WalletError, match="not found"):
        unlock_file(tmp_path / "missing", PASSWORD)
    data = json.loads(entry.path.read_text())
    data["crypto"]["ciphertext"] = "00" * 32
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    with pytest.raises(WalletError):
        unlock_file(tampered, PASSWORD)


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_imports_keystores_written_by_other_wallets(tmp_path, kdf):
    key = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    foreign = tmp_path / "geth.json"
    foreign.write_text(json.dumps(create_keyfile_json(key, PASSWORD.encode(), kdf=kdf)))
    wallet = Wallet(tmp_path / "ks")
    entry = wallet.import_keystore(foreign, PASSWORD)
    assert entry.address == Account.from_key(key).address
    assert wallet.unlock(PASSWORD).key == key
    # and ours opens in other tools' code path (eth-keyfile is what geth-compatible tools use)
    from eth_keyfile import decode_keyfile_json

    assert decode_keyfile_json(json.loads(entry.path.read_text()), PASSWORD.encode()) == key
    with pytest.raises(WalletError, match="already exists"):
        wallet.import_keystore(foreign, PASSWORD)


def test_cli_wallet_never_prints_the_private_key():
    key = "0x" + "ab" * 32
    env = {"ICHAIN_PASSWORD": PASSWORD}
    imported = ichain("wallet", "import", "--private-key-stdin", "--json", env=env, input=key + "\n")
    assert imported.returncode == 0, imported.stderr
    address = json.loads(imported.stdout)["address"]
    assert address == Account.from_key(key).address
    shown = ichain("wallet", "show", "--public-key", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["address"] == address
    for out in (imported, shown):
        assert "ab" * 32 not in out.stdout + out.stderr
    keystores = list(locations.keystore_dir().iterdir())
    assert len(keystores) == 1 and "ab" * 32 not in keystores[0].read_text()


def test_cli_wallet_errors_are_one_line():
    assert_clean_failure(ichain("wallet", "show"))  # no keystore yet
    assert_clean_failure(ichain("wallet", "new"))  # no password, no terminal
    ok = ichain("wallet", "new", env={"ICHAIN_PASSWORD": PASSWORD})
    assert ok.returncode == 0, ok.stderr
    assert_clean_failure(ichain("wallet", "show", "--public-key", env={"ICHAIN_PASSWORD": "wrong password"}))
    assert_clean_failure(
        ichain("wallet", "import", "--keystore", "/nonexistent", env={"ICHAIN_PASSWORD": PASSWORD})
    )
    assert_clean_failure(ichain("--network", "http://127.0.0.1:9", "wallet", "balance"))
    assert_clean_failure(
        ichain(
            "wallet", "import", "--private-key-stdin", env={"ICHAIN_PASSWORD": PASSWORD}, input="not-a-key\n"
        )
    )


def test_cli_balance_and_wrong_chain_on_anvil(anvil_node):
    env = {"ICHAIN_PASSWORD": PASSWORD}
    assert ichain("wallet", "new", env=env).returncode == 0
    bal = ichain("--network", anvil_node.url, "wallet", "balance", "--json", env=env)
    assert bal.returncode == 0, bal.stderr
    data = json.loads(bal.stdout)
    assert data["chain_id"] == 31337 and data["balance"] == "0.000000 ETH"
    wrong = ichain("--network", anvil_node.url, "wallet", "balance", env={**env, "ICHAIN_CHAIN_ID": "1"})
    assert_clean_failure(wrong)
    assert "chain id 31337" in wrong.stderr


def test_an_empty_or_corrupt_journal_record_is_set_aside_not_fatal(tmp_path):
    from ichain_tui.agents.journal import Journal

    journal = Journal("provider", "0x" + "ab" * 20, directory=tmp_path)
    journal.update(3, result_root="cd" * 32)
    (journal.dir / "task-4.json").write_text("")
    (journal.dir / "task-5.json").write_text("[[[")
    assert journal.open_tasks() == [3]
    assert sorted(journal.corrupt) == ["task-4.json", "task-5.json"]
    assert (journal.dir / "task-4.corrupt").exists() and not (journal.dir / "task-4.json").exists()
