"""A decision rule with the bug the Cedar article warns of: "Deny if a forbid applies, else Allow".

It lacks explicit permit: a request that no policy mentions at all is allowed. Prove it wrong:

    cedar-smt prove-invariants --rule examples/invariants/buggy_rule.py:deny_if_forbidden_else_allow

A decision rule takes whether each permit and each forbid is satisfied, and a boolean algebra
(`any`, `both`, `negate`), so the same function runs on Python booleans and on Z3 terms.
"""


def deny_if_forbidden_else_allow(permits, forbids, logic):
    return logic.negate(logic.any(forbids))
