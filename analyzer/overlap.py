"""Which policies can be satisfied together, as far as their scopes tell.

`principal == A` and `principal == B` (A and B different entities) are never satisfied by one
request, whatever the store; the same for the resource. Every other pair of scopes may be
(`principal in G` and `principal == A`: the store may put A in G), so the answer is
conservative: two policies said not to overlap are never satisfied together, two said to
overlap may or may not be. The same holds of the solver's symbolic requests: a principal
term equal to two distinct entity literals is a contradiction in any model. Lint uses it to
bound each policy's checks to its neighbours, diff to bound its search to the policies that
can meet a changed one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from cedar_smt.core.policy import Policy, ScopeConstraint, ScopeEq
from cedar_smt.core.values import EntityUID

# a policy's place in the index: the principal and the resource it names with `==`, if any
Named = tuple[EntityUID | None, EntityUID | None]


def named(scope: ScopeConstraint) -> EntityUID | None:
    """The one entity a principal or resource scope names with `==`, if it does."""
    if isinstance(scope, ScopeEq) and isinstance(scope.entity, EntityUID):
        return scope.entity
    return None


def scope_names(policy: Policy) -> Named:
    return named(policy.principal), named(policy.resource)


def may_overlap(a: Named, b: Named) -> bool:
    """Whether policies with these scopes may be satisfied by one request."""
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


class Overlap:
    """The policies (of `indexes`) whose scopes may overlap a given policy's."""

    def __init__(self, policies: Sequence[Policy], indexes: list[int]) -> None:
        self.policies = policies
        self.indexes = indexes
        self.by_principal: dict[EntityUID | None, list[int]] = defaultdict(list)
        self.by_resource: dict[EntityUID | None, list[int]] = defaultdict(list)
        for i in indexes:
            self.by_principal[named(policies[i].principal)].append(i)
            self.by_resource[named(policies[i].resource)].append(i)

    def with_(self, i: int) -> list[int]:
        """The other policies whose scopes can overlap with policy `i`'s, in their order."""
        principal, resource = scope_names(self.policies[i])
        candidates: set[int] | None = None
        for name, index in ((principal, self.by_principal), (resource, self.by_resource)):
            if name is not None:
                these = {*index.get(name, ()), *index.get(None, ())}
                candidates = these if candidates is None else candidates & these
        if candidates is None:
            candidates = set(self.indexes)
        candidates.discard(i)
        return sorted(candidates)


class Meeting:
    """Whether a policy's scope may overlap the scope of any of a group of policies (the
    changed ones of a diff), in constant time per question."""

    def __init__(self, group: Iterable[Policy]) -> None:
        self.pairs: set[Named] = {scope_names(p) for p in group}
        self.principals = {a for a, _ in self.pairs}
        self.resources = {b for _, b in self.pairs}

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def meets(self, policy: Policy) -> bool:
        a, b = scope_names(policy)
        if not self.pairs:
            return False
        if a is None and b is None:
            return True
        if a is None:
            return None in self.resources or b in self.resources
        if b is None:
            return None in self.principals or a in self.principals
        return bool({(a, b), (a, None), (None, b), (None, None)} & self.pairs)
