"""A small, honest Dockerfile reader for tests: stages, instructions (continuations joined,
comments dropped), ARG/ENV values and Docker's variable substitution. Heredocs are refused."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    arguments: str  # continuation lines joined, comment lines dropped
    line: int  # where it starts


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        (instruction,) = self.all(keyword)
        return instruction


@dataclass
class Dockerfile:
    global_args: list[Instruction]  # the ARGs before the first FROM
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        (stage,) = [s for s in self.stages if s.name == name]
        return stage

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, instruction) pairs: ``\\`` continues an instruction on the next
    line; comment and blank lines are dropped, inside a continuation too (as Docker does)."""
    pending = ""
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        yield start, (pending + line).strip()
        pending = ""
    if pending:
        raise ValueError(f"line {start}: the file ends inside a continued instruction")


def parse_dockerfile(text: str) -> Dockerfile:
    parsed = Dockerfile([], [])
    for number, line in logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), number)
        if instruction.arguments.startswith("<<"):
            raise ValueError(f"line {number}: heredocs are not supported")
        if instruction.keyword == "FROM":
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            parsed.stages.append(Stage(words[0], name))
        elif parsed.stages:
            parsed.stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            parsed.global_args.append(instruction)
        else:
            raise ValueError(f"line {number}: {instruction.keyword} before the first FROM")
    return parsed


def arg_declarations(instruction: Instruction) -> dict[str, str | None]:
    """``ARG NAME[=default] ...`` -> name: default (None without one)."""
    words = shlex.split(instruction.arguments)
    return {n: (d if sep else None) for n, sep, d in (w.partition("=") for w in words)}


def env_assignments(instruction: Instruction) -> dict[str, str]:
    """``ENV NAME=value ...`` (or the legacy ``ENV NAME value``) -> name: raw value."""
    words = shlex.split(instruction.arguments)
    if "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value: str, variables: Mapping[str, str]) -> str:
    """Docker's ``$NAME`` and ``${NAME}`` substitution (no ``${NAME:-default}`` forms)."""
    expanded = _VARIABLE.sub(lambda m: variables.get(m[1] or m[2], ""), value)
    if "${" in expanded:
        raise ValueError(f"unsupported substitution in {value!r}")
    return expanded


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT, CMD or VOLUME; shell form is refused."""
    words = json.loads(arguments)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), arguments
    return words
