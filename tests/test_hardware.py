"""The hardware profile a provider writes on chain, and how a hostile profile text is read."""

from __future__ import annotations

from ichain_tui.chain.types import ProviderTerms
from ichain_tui.hardware import MAX_GPUS, GpuModel, HardwareProfile


def test_a_profile_round_trips_through_its_on_chain_text():
    profile = HardwareProfile(cpus=32, ram_gb=256, gpus=(GpuModel("NVIDIA GeForce RTX 4090", 24564),) * 2)
    text = profile.encode()
    assert text == "cpu=32 ram=256 gpu=NVIDIA GeForce RTX 4090:24564;NVIDIA GeForce RTX 4090:24564"
    assert HardwareProfile.parse(text) == profile
    assert profile.describe() == "32 CPU · 256 GB · 2× NVIDIA GeForce RTX 4090 24 GB"
    assert (profile.gpu_count, profile.max_vram_mb) == (2, 24564)
    assert HardwareProfile.parse(HardwareProfile(cpus=4, ram_gb=8).encode()) == HardwareProfile(4, 8)


def test_separators_in_a_gpu_name_cannot_forge_another_gpu():
    forged = HardwareProfile(cpus=1, gpus=(GpuModel("A100:81920;H100", 1024),))
    assert HardwareProfile.parse(forged.encode()).gpus == (GpuModel("A100 81920 H100", 1024),)


def test_hostile_or_old_texts_read_as_what_they_prove_and_no_more():
    assert HardwareProfile.parse("") == HardwareProfile()
    assert HardwareProfile.parse("cpu=8 ram=32G gpu=none") == HardwareProfile(8, 32)  # the older form
    assert HardwareProfile.parse("cpu=-5 ram=1e400 gpu=x:y;:5;ok:7") == HardwareProfile(
        0, 0, (GpuModel("ok", 7),)
    )
    huge = HardwareProfile.parse("cpu=99999999999 gpu=" + ";".join(["g:1"] * 10_000))
    assert huge.cpus == 10**6 and len(huge.gpus) <= MAX_GPUS
    assert HardwareProfile.parse("\x1b[31m" * 1000).describe() == "CPU ? · RAM ? · no GPU"


def test_a_task_that_wants_gpus_is_offered_only_providers_that_have_them(embedded):
    from ichain_tui.agents.selection import choose_provider, pool

    p = embedded
    gpu_box = HardwareProfile(cpus=16, ram_gb=64, gpus=(GpuModel("NVIDIA L4", 23034),))
    p.validator2.update_provider(ProviderTerms(10**17, gpus=1), True, gpu_box).send()
    candidates = pool(p.requester)
    assert {c.address: c.provider.hardware for c in candidates}[p.validator2.account.address] == gpu_box
    assert choose_provider(p.requester, 10**17, candidates=candidates, gpus=1).address == (
        p.validator2.account.address
    )
    assert choose_provider(p.requester, 10**17, candidates=candidates, gpus=2) is None
    assert choose_provider(p.requester, 10**17, candidates=candidates) is not None
