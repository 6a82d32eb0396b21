"""`never-errors` of every policy of a generated store, in one process: the way a CI job
would check each policy of a large store (bench/scale.py times it).

    python bench/never_errors.py STORE_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from cedar_smt import PolicySet, Schema, Verdict, check_never_errors


def main() -> None:
    d = Path(sys.argv[1])
    schema = Schema.from_file(str(d / "schema.cedarschema"))
    policies = PolicySet.from_file(str(d / "policies.cedar"))
    policies.link_json((d / "links.json").read_text())
    counts = dict.fromkeys(Verdict, 0)
    for policy in policies:
        counts[check_never_errors(policy, schema).verdict] += 1
    print(", ".join(f"{v.value} {n}" for v, n in counts.items()))


if __name__ == "__main__":
    main()
