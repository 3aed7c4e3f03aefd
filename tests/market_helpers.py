"""Test helpers for the local market: a quick task with execute/check."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

from ichain_tui.agents.localnet import LocalMarket, ProviderProcess  # noqa: F401  (re-exported for tests)
from ichain_tui.hardware import HardwareProfile


def quick_task(root: Path, sleep: float = 0.0) -> Path:
    """A tiny task: execute writes a number, check recomputes it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text(
        textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        value = sum(i * i for i in range(1000))
        if mode == "execute":
            time.sleep({sleep})
            (out / "answer.json").write_text(json.dumps({{"value": value}}))
            print("answer", value)
        else:
            claimed = json.loads((out / "answer.json").read_text())["value"]
            print("claimed", claimed, "expected", value)
            sys.exit(0 if claimed == value else 1)
    """)
    )
    (root / "ichain.toml").write_text("time_limit = 120\nmemory_mb = 256\n")
    return root


def in_process_provider(m, key_index, sandbox, tmp_path, agent_class=None, **kw):
    """A provider agent in this process (to give it a tampering sandbox, a policy, or a subclass
    that misbehaves)."""
    from eth_account import Account

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent

    market = m.market.as_account(Account.from_key(m.keys[key_index]))
    host = Host()
    m.hosts.append(host)
    agent = (agent_class or ProviderAgent)(
        market,
        sandbox,
        host,
        tmp_path / f"agent-{key_index}",
        rate=10**16,
        stake=5 * 10**17,
        hardware=HardwareProfile(cpus=1),
        **kw,
    )
    agent.start_providing()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return agent, stop
