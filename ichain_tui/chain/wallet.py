"""Provides V3 keystores (eth-account) in the data dir: create, import, list, unlock.

Files are named like geth's (`UTC--<time>--<address>`), written with mode 0600, and readable by
geth and MetaMask. The private key is never printed or logged; it lives only in the unlocked
`LocalAccount` of the running process.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys  # type: ignore[attr-defined]  # eth_keys re-exports it untyped
from web3 import Web3

from .. import locations
from .errors import WalletError

PASSWORD_ENV = "ICHAIN_PASSWORD"


@dataclass(frozen=True)
class KeystoreEntry:
    address: str
    path: Path


def is_address(text: str) -> bool:
    return bool(Web3.is_address(text))


def is_checksummed(text: str) -> bool:
    """Whether a mixed-case address carries a valid EIP-55 checksum."""
    return bool(Web3.is_checksum_address(text))


def checksummed(text: str) -> str:
    return str(Web3.to_checksum_address(text))


def account_from_key(key: str | bytes) -> LocalAccount:
    """The account of a raw private key (a development chain's funded keys)."""
    account: LocalAccount = Account.from_key(key)
    return account


def new_private_key() -> str:
    """A fresh random private key, 0x-prefixed hex (for throwaway parties of a development chain)."""
    return "0x" + bytes(Account.create().key).hex()


def public_key(account: LocalAccount) -> bytes:
    """The 64-byte uncompressed secp256k1 public key (no 0x04 prefix) of an unlocked account."""
    return keys.PrivateKey(bytes(account.key)).public_key.to_bytes()


class Wallet:
    """The keystores of one directory (default: the data dir's keystores/)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or locations.keystore_dir()

    def entries(self) -> list[KeystoreEntry]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            address = _address_of(path)
            if address:
                found.append(KeystoreEntry(address, path))
        return found

    def find(self, address: str | None = None) -> KeystoreEntry:
        entries = self.entries()
        if not entries:
            raise WalletError("no keystore yet: run `ichain wallet new` or `ichain wallet import`")
        if address is None:
            if len(entries) > 1:
                listed = ", ".join(e.address for e in entries)
                raise WalletError(
                    f"several keystores ({listed}): choose one with --account or config `account`"
                )
            return entries[0]
        try:
            wanted = Web3.to_checksum_address(address)
        except ValueError:
            raise WalletError(f"not an address: {address}") from None
        for entry in entries:
            if entry.address == wanted:
                return entry
        raise WalletError(f"no keystore for {wanted} in {self.directory}")

    def create(self, password: str) -> KeystoreEntry:
        _check_password(password)
        return self._store(Account.create(), password)

    def import_private_key(self, private_key: str, password: str) -> KeystoreEntry:
        _check_password(password)
        try:
            account = Account.from_key(private_key.strip())
        except Exception:
            raise WalletError("that is not a valid private key (64 hex digits)") from None
        return self._store(account, password)

    def import_keystore(self, path: Path, password: str) -> KeystoreEntry:
        account = unlock_file(path, password)
        return self._store(account, password, source=path)

    def unlock(self, password: str, address: str | None = None) -> LocalAccount:
        return unlock_file(self.find(address).path, password)

    def _store(self, account: LocalAccount, password: str, source: Path | None = None) -> KeystoreEntry:
        if any(e.address == account.address for e in self.entries()):
            raise WalletError(f"a keystore for {account.address} already exists")
        locations.ensure_private_dir(self.directory)
        if source is not None:
            data = json.loads(source.read_text())
        else:
            data = Account.encrypt(account.key, password)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        path = self.directory / f"UTC--{stamp}.{time.time_ns() % 10**9:09d}Z--{account.address[2:].lower()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        return KeystoreEntry(account.address, path)


def unlock_file(path: Path, password: str) -> LocalAccount:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WalletError(f"keystore not found: {path}") from None
    except (OSError, ValueError):
        raise WalletError(f"keystore is not readable JSON: {path}") from None
    if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data}:
        raise WalletError(f"not a V3 keystore: {path}")
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WalletError("wrong password for this keystore") from None
        raise WalletError(f"keystore is corrupt: {path}") from None
    except Exception:
        raise WalletError(f"keystore is corrupt: {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def _address_of(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return Web3.to_checksum_address("0x" + str(data["address"]).removeprefix("0x"))
    except Exception:
        return None


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise WalletError("password must be at least 8 characters")
