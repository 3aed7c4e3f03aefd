"""Provides `HardwareProfile`: a provider's CPU threads, RAM and GPUs (model and VRAM), its compact
text form stored in the provider's on-chain profile, and a tolerant parser for what others stored
there (any party may write anything: unknown parts are dropped, never trusted)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TEXT = 512  # characters of an on-chain hardware text that are read at all
MAX_GPUS = 64
_FORBIDDEN = re.compile(r"[\x00-\x1f;:=\x7f]")  # separators of the encoding and control characters


@dataclass(frozen=True)
class GpuModel:
    name: str
    vram_mb: int

    def describe(self) -> str:
        return f"{self.name} {round(self.vram_mb / 1024)} GB"


@dataclass(frozen=True)
class HardwareProfile:
    """What a provider offers. Zero means unknown (an old or unreadable profile)."""

    cpus: int = 0
    ram_gb: int = 0
    gpus: tuple[GpuModel, ...] = ()

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    @property
    def max_vram_mb(self) -> int:
        return max((g.vram_mb for g in self.gpus), default=0)

    def offers_gpus(self, wanted: int) -> bool:
        """Whether a task asking for `wanted` GPUs (-1: all, at least one) can run here."""
        return wanted == 0 or (self.gpu_count >= max(1, wanted))

    def encode(self) -> str:
        """The on-chain text: `cpu=16 ram=64 gpu=NAME:VRAM_MB;NAME:VRAM_MB` (gpu last)."""
        gpus = ";".join(f"{_clean(g.name)}:{g.vram_mb}" for g in self.gpus[:MAX_GPUS])
        return f"cpu={self.cpus} ram={self.ram_gb} gpu={gpus or 'none'}"

    def describe(self) -> str:
        """For people: `16 CPU · 64 GB · 2× NVIDIA A100 80 GB`."""
        parts = [
            f"{self.cpus} CPU" if self.cpus else "CPU ?",
            f"{self.ram_gb} GB" if self.ram_gb else "RAM ?",
        ]
        counts: dict[str, int] = {}
        for gpu in self.gpus:
            counts[gpu.describe()] = counts.get(gpu.describe(), 0) + 1
        parts += [f"{n}× {name}" if n > 1 else name for name, n in counts.items()] or ["no GPU"]
        return " · ".join(parts)

    @classmethod
    def parse(cls, text: str) -> HardwareProfile:
        """Read an on-chain hardware text (this encoding, or the older `ram=64G gpu=2x NAME 24GB`)."""
        text = str(text)[:MAX_TEXT]
        head, _, gpu_text = text.partition("gpu=")
        fields = dict(part.split("=", 1) for part in head.split() if "=" in part)
        gpus: list[GpuModel] = []
        for item in gpu_text.split(";")[:MAX_GPUS]:
            name, sep, vram = item.rpartition(":")
            if sep and name.strip() and vram.strip().isdigit():
                gpus.append(GpuModel(_clean(name.strip())[:80], min(int(vram), 10**7)))
        return cls(_number(fields.get("cpu")), _number(fields.get("ram")), tuple(gpus))


def _clean(name: str) -> str:
    return _FORBIDDEN.sub(" ", name).strip()


def _number(value: str | None) -> int:
    digits = (value or "").strip().rstrip("Gg")
    return min(int(digits), 10**6) if digits.isdigit() else 0
