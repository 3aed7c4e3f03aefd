"""Provides the one-line fix for each system part the app may find missing, worded for how this
copy was installed: the exact Debian/Ubuntu command and whether it needs root, and `./install.sh`
only when running from a source checkout (a wheel's user has none)."""

from __future__ import annotations

from .bundled import from_checkout


def _or_installer(command: str, script: str = "./install.sh") -> str:
    return f"{command} ({script} does it)" if from_checkout() else command


def docker() -> str:
    return _or_installer(
        "as root: apt-get install -y docker.io && systemctl start docker", "scripts/start-dockerd.sh"
    )


def docker_permission() -> str:
    return "as root: usermod -aG docker $USER (then log in again), or run as root"


def runtime_image() -> str:
    return "as root: apt-get install -y debootstrap && ichain image build"


def gvisor() -> str:
    return _or_installer(
        "as root: apt-get install -y runsc && runsc install && systemctl restart docker",
        "scripts/start-dockerd.sh",
    )


def anvil() -> str:
    return _or_installer(
        "npm install -g @foundry-rs/anvil (needs nodejs and npm: apt-get install -y nodejs npm)"
    )


def tor() -> str:
    return _or_installer("as root: apt-get install -y tor")


def debootstrap() -> str:
    return "as root: apt-get install -y debootstrap"


def embedded_chain() -> str:
    return "pip install 'ichain-tui[embedded]' (or pipx inject ichain-tui 'eth-tester[py-evm]')"


def solc() -> str:
    if from_checkout():
        return "cd contracts && npm ci (./install.sh does it)"
    return "recompiling needs the source checkout (contracts/, npm ci); deploying does not"


def package_index() -> str:
    return "ichain config set package_index http://HOST/simple (a PEP 503 index you trust)"
