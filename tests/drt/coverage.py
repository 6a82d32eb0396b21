"""What a case exercises: the constructs its policies use, counted per policy.

The fixed-seed tests assert that each count is non-zero, so that a generator change that
stops producing a construct fails a test instead of quietly testing less.
"""

from __future__ import annotations

import re
from collections import Counter

from .generators import Case

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
CONSTRUCTS = {
    "in": r"\bin\b",
    "in set": r"\bin \[",
    "has": r"\bhas\b",
    "has a.b": r"\bhas [_a-zA-Z]\w*\.",
    "like": r"\blike\b",
    "is": r"\bis\b",
    "is in": r"\bis [\w:]+ in\b",
    "tags": r"\.(hasTag|getTag)\(",
    "getTag": r"\.getTag\(",
    "set ops": r"\.(contains|containsAll|containsAny|isEmpty)\(",
    "record literal": r"\{\s*[\w\"]+\s*:",
    "if": r"\bif\b",
    "unless": r"\bunless\b",
    "arithmetic": r" [-+*] ",
    "decimal": r"\bdecimal\(|\.(lessThan|greaterThan)(OrEqual)?\(",
    "ipaddr": r"\bip\(|\.is(Ipv4|Ipv6|Loopback|Multicast|InRange)\(",
    "datetime": r"\bdatetime\(|\.(offset|durationSince|toDate|toTime)\(",
    "duration": r"\bduration\(|\.to(Milliseconds|Seconds|Minutes|Hours|Days)\(",
    "template": r"\?(principal|resource)",
    "scope ==": r"(?m)^(permit|forbid)\(.*==",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in CONSTRUCTS.items()}


def constructs(case: Case) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in case.policies:
        # string literals blanked, so that `"in"` in a literal does not count as `in`
        bare = _STRING.sub('""', text)
        for name, pattern in _COMPILED.items():
            if pattern.search(bare):
                counts[name] += 1
    counts["policies"] += len(case.policies)
    counts["links"] += len(case.links)
    return counts
