"""Provides `parse_requirements`: a task's requirement lines read as data, never as pip input.

Each line is parsed with `packaging` (the parser pip itself uses) and only exact pins pass:
`name==version`, with optional extras and environment markers, and optionally one or more
`--hash=sha256:<64 hex>`. Anything else a requirements file can say to pip — an option
(`--index-url`, `--no-binary`, `-e`, `-r`, ...), a URL, a path, a VCS reference, a range — is
refused with one line naming it. What pip is then given is not the requester's text but the
canonical lines of the pins (`Pin.line`), so no requester byte reaches pip's option parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

HASH = re.compile(r"--hash=sha256:([0-9a-fA-F]{64})")
COMMENT = re.compile(r"(^|\s)#.*$")
MAX_LINES = 2000


class RequirementRefused(ValueError):
    """A requirement line that is not an exact pin (the message names the line)."""


@dataclass(frozen=True)
class Pin:
    """One exact requirement: `name[extras]==version ; marker` with its allowed hashes."""

    name: str  # canonical (PEP 503)
    extras: tuple[str, ...]
    version: str
    marker: str
    hashes: tuple[str, ...]  # lower-case sha256 hex

    def line(self) -> str:
        text = self.name + (f"[{','.join(self.extras)}]" if self.extras else "") + f"=={self.version}"
        if self.marker:
            text += f" ; {self.marker}"
        return text + "".join(f" --hash=sha256:{h}" for h in self.hashes)


def parse_requirements(text: str) -> list[Pin]:
    """The pins `text` lists, in order; `RequirementRefused` on the first line that is not one."""
    pins: list[Pin] = []
    seen: set[str] = set()
    for number, line in _logical_lines(text):
        pin = _parse_line(line, number)
        if pin.name in seen:
            raise RequirementRefused(f"line {number}: {pin.name} is listed twice")
        seen.add(pin.name)
        pins.append(pin)
        if len(pins) > MAX_LINES:
            raise RequirementRefused(f"more than {MAX_LINES} requirements")
    hashed = [pin for pin in pins if pin.hashes]
    if hashed and len(hashed) != len(pins):
        bare = next(pin.name for pin in pins if not pin.hashes)
        raise RequirementRefused(f"{bare} has no --hash while others do: hash every line or none")
    return pins


def canonical_text(pins: list[Pin]) -> str:
    """What pip is given (and what names the dependency image): one canonical line per pin."""
    return "".join(pin.line() + "\n" for pin in pins)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines without comments, backslash continuations joined, blanks dropped (pip's own rules)."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if "\0" in raw:
            raise RequirementRefused(f"line {number}: a NUL byte")
        line = COMMENT.sub("", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append((start, line))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def _parse_line(line: str, number: int) -> Pin:
    head, hashes = line, []
    cut = line.find(" --hash")
    if cut < 0 and line.startswith("--hash"):
        cut = 0
    if cut >= 0:
        head, tail = line[:cut].strip(), line[cut:].split()
        for token in tail:
            found = HASH.fullmatch(token)
            if found is None:
                raise RequirementRefused(
                    f"line {number}: {_quote(token)} is not accepted; only --hash=sha256:<64 hex>"
                )
            hashes.append(found.group(1).lower())
    if not head:
        raise RequirementRefused(f"line {number}: a hash without a package")
    if head.startswith("-"):
        raise RequirementRefused(
            f"line {number}: options are not accepted ({_quote(head)}); list name==version only"
        )
    try:
        req = Requirement(head)
    except InvalidRequirement:
        raise RequirementRefused(
            f"line {number}: {_quote(head)} is not name==version (URLs, paths and VCS references are not accepted)"
        ) from None
    if req.url:
        raise RequirementRefused(
            f"line {number}: {_quote(head)} is a direct reference; only name==version is accepted"
        )
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
        raise RequirementRefused(f"line {number}: {_quote(head)} is not pinned; write name==version")
    try:
        version = str(Version(specs[0].version))
    except InvalidVersion:
        raise RequirementRefused(f"line {number}: {_quote(specs[0].version)} is not a version") from None
    return Pin(
        name=canonicalize_name(req.name),
        extras=tuple(sorted(canonicalize_name(e) for e in req.extras)),
        version=version,
        marker=str(req.marker) if req.marker else "",
        hashes=tuple(dict.fromkeys(hashes)),
    )


def _quote(text: str) -> str:
    return repr(text[:80])
