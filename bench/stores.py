"""Policy stores shaped like real ones, for benchmarks: a document service with users in
nested groups and documents in a folder tree several levels deep, and policies that are
mostly grants naming concrete entities, plus links of a sharing template, group grants with
conditions, attribute (ABAC) rules and conditional forbids.

    python bench/stores.py --policies 1000 --seed 1 --out /tmp/store1000

writes `schema.cedarschema`, `policies.cedar`, `links.json`, `entities.json` and the variants
the benchmarks compare (`reordered.cedar`, `removed.cedar`, `edited.cedar`). The seed is
printed; a store depends only on its size and seed.

    python bench/stores.py --links 10000 --policies 300 --out /tmp/links10000

writes a store where most policies are links of one sharing template (a Verified
Permissions-style store): `--links` links of it over the users and the folder tree, beside
about `--policies` policies of the other shapes. Its variants are whole policy sets in Cedar's
JSON policy format (links cannot be reordered in Cedar text): `policies.json` (the store),
`reordered.json` (its static policies and its links in another order) and `moved.json` (one
link's folder moved to another).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """\
entity Group in [Group] { name: String };
entity User in [Group] { department: String, level: Long, contractor: Bool };
entity Folder in [Folder] { owner: User, public: Bool };
entity Document in [Folder] { owner: User, classification: Long, title: String };

type Ctx = { mfa: Bool, ip: ipaddr, hour: Long };

action readActions, writeActions;
action view in [readActions]
  appliesTo { principal: User, resource: [Document, Folder], context: Ctx };
action comment in [readActions]
  appliesTo { principal: User, resource: Document, context: Ctx };
action edit in [writeActions]
  appliesTo { principal: User, resource: [Document, Folder], context: Ctx };
action delete in [writeActions]
  appliesTo { principal: User, resource: [Document, Folder], context: Ctx };
action share in [writeActions]
  appliesTo { principal: User, resource: Folder, context: Ctx };
"""

TEMPLATE = """\
@id("share-folder")
permit (principal == ?principal, action in Action::"readActions", resource in ?resource);"""

# the template of a store made mostly of links: a condition, so each link is more than a scope
SHARE_TEMPLATE = """\
@id("share-folder")
permit (
  principal == ?principal,
  action in [Action::"view", Action::"comment", Action::"edit"],
  resource in ?resource
) when { context.mfa || !principal.contractor };"""

ACTIONS = ["view", "comment", "edit", "delete", "share"]
GROUPS_OF_ACTIONS = ["readActions", "writeActions"]

# The custom property the benchmarks prove: the forbid below guarantees it.
NEVER_ALLOWS_QUERY = 'principal.contractor && action == Action::"delete"'


@dataclass
class Store:
    seed: int
    users: int
    groups: int
    folders: int
    documents: int
    policies: list[str] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    folder_parent: dict[int, int | None] = field(default_factory=dict)
    group_parent: dict[int, int | None] = field(default_factory=dict)
    permits: list[int] = field(default_factory=list)  # indexes of removable grants
    template: str = TEMPLATE

    @property
    def text(self) -> str:
        return "\n\n".join([self.template, *self.policies]) + "\n"


def _pick(rng: random.Random, n: int) -> int:
    """An index in range(n), the first ones much more often (a few folders and groups are
    named by many policies, most by one or two)."""
    return min(int(rng.paretovariate(1.2)) - 1, n - 1) if rng.random() < 0.5 else rng.randrange(n)


def generate(policies: int, seed: int = 1, entities: int | None = None, links: int = 0) -> Store:
    """A store with about `policies` policies and links (the template counts once); with
    `entities`, the users, groups, folders and documents scaled to about that many in all
    (by default they grow with the policies: 2,300 entities for 1,000 policies); with `links`,
    that many more links of a conditional sharing template, over as many users as a quarter of
    them and as many folders as a twentieth (each user shares a few folders, and a few folders
    are shared with many)."""
    rng = random.Random(seed)
    users = max(20, policies, links // 4)
    groups = max(5, policies // 20)
    folders = max(10, policies // 4, links // 20)
    documents = max(20, policies)
    if entities is not None:
        scale = entities / (users + groups + folders + documents)
        users, groups, folders, documents = (
            max(1, round(n * scale)) for n in (users, groups, folders, documents)
        )
    store = Store(seed, users, groups, folders, documents)
    if links:
        store.template = SHARE_TEMPLATE
    # hierarchies: groups three levels deep, folders up to six
    for g in range(groups):
        store.group_parent[g] = None if g < 3 else rng.randrange(max(1, g // 3), g)
    for f in range(folders):
        store.folder_parent[f] = None if f < 2 else rng.randrange(max(1, f // 2), f)

    def user() -> str:
        return f'User::"u{rng.randrange(users)}"'

    def folder() -> str:
        return f'Folder::"f{_pick(rng, folders)}"'

    def group() -> str:
        return f'Group::"g{_pick(rng, groups)}"'

    def document() -> str:
        return f'Document::"d{rng.randrange(documents)}"'

    def action_scope() -> str:
        r = rng.random()
        if r < 0.4:
            return f'action in Action::"{rng.choice(GROUPS_OF_ACTIONS)}"'
        if r < 0.8:
            return f'action == Action::"{rng.choice(ACTIONS[:4])}"'
        picked = rng.sample(ACTIONS[:4], 2)
        return "action in [" + ", ".join(f'Action::"{a}"' for a in picked) + "]"

    fixed = [
        # attribute rules
        '@id("owner-full-access")\npermit (principal, action, resource is Document)\n'
        "when { resource.owner == principal };",
        '@id("folder-owner")\npermit (principal, action, resource is Folder)\n'
        "when { resource.owner == principal };",
        '@id("public-folders")\npermit (principal, action == Action::"view", resource is Folder)\n'
        "when { resource.public };",
        '@id("clearance")\npermit (principal, action == Action::"view", resource is Document)\n'
        "when { principal.level >= resource.classification && !principal.contractor };",
        # conditional forbids
        '@id("contractors-never-delete")\n'
        'forbid (principal, action == Action::"delete", resource)\n'
        "when { principal.contractor };",
        '@id("writes-need-mfa")\nforbid (principal, action in Action::"writeActions", resource)\n'
        "unless { context.mfa };",
        '@id("secret-documents-office-network")\n'
        "forbid (principal, action, resource is Document)\n"
        'when { resource.classification > 3 && !context.ip.isInRange(ip("10.0.0.0/8")) };',
        '@id("night-freeze")\nforbid (principal, action == Action::"share", resource)\n'
        "when { context.hour < 6 || context.hour > 22 };",
    ]
    store.policies.extend(fixed)
    target = max(len(fixed), policies - 1)  # the template is one policy
    while len(store.policies) + len(store.links) < target:
        r = rng.random()
        if r < 0.45:  # a grant to one user
            res = folder() if rng.random() < 0.6 else document()
            op = "in" if res.startswith("Folder") else "=="
            store.permits.append(len(store.policies))
            store.policies.append(
                f"permit (principal == {user()}, {action_scope()}, resource {op} {res});"
            )
        elif r < 0.70:  # a link of the sharing template
            store.links.append(
                {
                    "templateId": "share-folder",
                    "newId": f"share{len(store.links)}",
                    "values": {
                        "?principal": _uid(user()),
                        "?resource": _uid(folder()),
                    },
                }
            )
        elif r < 0.85:  # a group grant, often conditional
            cond = rng.choice(
                [
                    "",
                    " when { context.mfa }",
                    f" when {{ principal.level >= {rng.randrange(5)} }}",
                    f' when {{ principal.department == "dept{rng.randrange(8)}" }}',
                    f' when {{ context.ip.isInRange(ip("10.{rng.randrange(256)}.0.0/16")) }}',
                ]
            )
            scope = rng.choice([f"principal in {group()}", f"principal is User in {group()}"])
            res = rng.choice([f"resource in {folder()}", f"resource is Document in {folder()}"])
            store.permits.append(len(store.policies))
            store.policies.append(f"permit ({scope}, {action_scope()}, {res}){cond};")
        elif r < 0.95:  # a forbid naming a user or group, with a condition
            who = rng.choice([f"principal == {user()}", f"principal in {group()}"])
            cond = rng.choice(
                [
                    "when { resource is Document && resource.classification > 2 }",
                    "unless { context.mfa }",
                    f"when {{ principal.level < {rng.randrange(1, 4)} }}",
                ]
            )
            store.policies.append(
                f"forbid ({who}, {action_scope()}, resource in {folder()}) {cond};"
            )
        else:  # an ABAC rule over a folder
            cond = rng.choice(
                [
                    f'resource.title like "*report-{rng.randrange(50)}*"',
                    f"resource.classification <= {rng.randrange(5)}",
                    "resource.owner.department == principal.department && context.mfa",
                ]
            )
            store.permits.append(len(store.policies))
            store.policies.append(
                f'permit (principal, action == Action::"view", '
                f"resource is Document in {folder()}) when {{ {cond} }};"
            )
    shared = {(v["?principal"]["id"], v["?resource"]["id"]) for v in _values(store.links)}
    while links and len(store.policies) + len(store.links) < target + links:
        u, f = _uid(user()), _uid(folder())
        if (u["id"], f["id"]) in shared:
            continue
        shared.add((u["id"], f["id"]))
        store.links.append(
            {
                "templateId": "share-folder",
                "newId": f"share{len(store.links)}",
                "values": {"?principal": u, "?resource": f},
            }
        )
    return store


def _values(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [link["values"] for link in links]


def _uid(text: str) -> dict[str, str]:
    kind, _, rest = text.partition("::")
    return {"type": kind, "id": json.loads(rest)}


def entities(store: Store) -> list[dict[str, Any]]:
    """An entity store for the policies: every user, group, folder and document."""
    rng = random.Random(store.seed + 1)
    out: list[dict[str, Any]] = []

    def ref(kind: str, i: int) -> dict[str, str]:
        prefix = {"Group": "g", "User": "u", "Folder": "f", "Document": "d"}[kind]
        return {"type": kind, "id": f"{prefix}{i}"}

    for g in range(store.groups):
        parent = store.group_parent[g]
        out.append(
            {
                "uid": ref("Group", g),
                "attrs": {"name": f"group {g}"},
                "parents": [] if parent is None else [ref("Group", parent)],
            }
        )
    for u in range(store.users):
        out.append(
            {
                "uid": ref("User", u),
                "attrs": {
                    "department": f"dept{rng.randrange(8)}",
                    "level": rng.randrange(6),
                    "contractor": rng.random() < 0.1,
                },
                "parents": [ref("Group", rng.randrange(store.groups)) for _ in range(2)],
            }
        )
    for f in range(store.folders):
        parent = store.folder_parent[f]
        out.append(
            {
                "uid": ref("Folder", f),
                "attrs": {"owner": ref("User", rng.randrange(store.users)), "public": False},
                "parents": [] if parent is None else [ref("Folder", parent)],
            }
        )
    for d in range(store.documents):
        out.append(
            {
                "uid": ref("Document", d),
                "attrs": {
                    "owner": ref("User", rng.randrange(store.users)),
                    "classification": rng.randrange(6),
                    "title": f"report-{rng.randrange(60)} draft",
                },
                "parents": [ref("Folder", rng.randrange(store.folders))],
            }
        )
    return out


def variants(store: Store) -> dict[str, str]:
    """The versions the benchmarks compare with the original: the same policies in another
    order, one grant removed, and one grant to a user edited (it names another user)."""
    rng = random.Random(store.seed + 2)
    shuffled = list(store.policies)
    rng.shuffle(shuffled)
    removed_at = store.permits[len(store.permits) // 2]
    removed = [p for i, p in enumerate(store.policies) if i != removed_at]
    edited = list(store.policies)
    grants = [i for i in store.permits if store.policies[i].startswith("permit (principal == User")]
    target = grants[len(grants) // 3]
    name = re.search(r'User::"u(\d+)"', edited[target])
    assert name is not None
    # the grant moves to a user no other policy names: the old user may lose the access, and
    # the new one gains it (in a store where no group or attribute rule grants it already)
    edited[target] = edited[target].replace(name.group(0), f'User::"u{store.users}"', 1)
    return {
        "reordered.cedar": "\n\n".join([store.template, *shuffled]) + "\n",
        "removed.cedar": "\n\n".join([store.template, *removed]) + "\n",
        "edited.cedar": "\n\n".join([store.template, *edited]) + "\n",
    }


def linked_variants(store: Store) -> dict[str, str]:
    """The versions of a store of links, as policy sets in Cedar's JSON policy format: the
    store itself, its static policies and links shuffled, and one link moved to a folder the
    same user was not shared before."""
    from cedar_smt.core import PolicySet

    rng = random.Random(store.seed + 3)

    def policy_set(policies: list[str], links: list[dict[str, Any]]) -> str:
        ps = PolicySet.from_str("\n\n".join([store.template, *policies]) + "\n")
        ps.link_json(links)
        return json.dumps(ps.to_json(), indent=1) + "\n"

    shuffled_links = rng.sample(store.links, len(store.links))
    # the static policies keep their ids (Cedar text names them by place), so reordered
    # versions are compared policy by policy as well as decision by decision
    moved = [json.loads(json.dumps(link)) for link in store.links]
    link = moved[len(moved) // 2]
    user = link["values"]["?principal"]["id"]
    taken = {v["?resource"]["id"] for v in _values(moved) if v["?principal"]["id"] == user}
    free = [f"f{i}" for i in range(store.folders) if f"f{i}" not in taken]
    link["values"]["?resource"] = {"type": "Folder", "id": rng.choice(free)}
    return {
        "policies.json": policy_set(store.policies, store.links),
        "reordered.json": _reordered(policy_set(store.policies, shuffled_links), rng),
        "moved.json": policy_set(store.policies, moved),
    }


def _reordered(text: str, rng: random.Random) -> str:
    """A JSON policy set with its static policies in another order (ids kept)."""
    data = json.loads(text)
    items = list(data["staticPolicies"].items())
    rng.shuffle(items)
    data["staticPolicies"] = dict(items)
    return json.dumps(data, indent=1) + "\n"


def write(store: Store, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "schema.cedarschema").write_text(SCHEMA)
    (out / "policies.cedar").write_text(store.text)
    (out / "links.json").write_text(json.dumps(store.links, indent=1) + "\n")
    (out / "entities.json").write_text(json.dumps(entities(store)) + "\n")
    for name, text in variants(store).items():
        (out / name).write_text(text)
    if store.template != TEMPLATE:
        for name, text in linked_variants(store).items():
            (out / name).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--links", type=int, default=0, help="links of a sharing template, beside the policies"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"seed {args.seed}", flush=True)
    store = generate(args.policies, args.seed, links=args.links)
    write(store, args.out)
    print(
        f"{len(store.policies) + 1} policies and {len(store.links)} template links, "
        f"{store.users} users, {store.groups} groups, {store.folders} folders, "
        f"{store.documents} documents in {args.out}"
    )


if __name__ == "__main__":
    main()
