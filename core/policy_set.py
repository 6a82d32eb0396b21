"""Policy sets: static policies and linked templates in order, the templates themselves, and
linking from Cedar's template-link JSON. A policy set reads and writes both of Cedar's policy
formats: its text, and its JSON (core/policy_json.py), told apart by content."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cedar_smt.core.errors import CedarError, LinkError
from cedar_smt.core.files import read_text
from cedar_smt.core.json_text import loads, locate_item
from cedar_smt.core.json_values import uid_from_json
from cedar_smt.core.parser import parse_policies
from cedar_smt.core.policy import Policy
from cedar_smt.core.policy_json import JsonPolicies, link_of, policies_from_json, policy_to_json
from cedar_smt.core.policy_text import policy_to_cedar
from cedar_smt.core.values import EntityUID


class PolicySet:
    """Static policies and linked templates in order, plus the templates themselves."""

    def __init__(self, policies: Iterable[Policy] = (), templates: Iterable[Policy] = ()) -> None:
        self._policies: dict[str, Policy] = {}
        self.templates: dict[str, Policy] = {}
        for t in templates:
            self.templates[t.id] = t
        for p in policies:
            if p.is_template:
                self.templates[p.id] = p
            else:
                self._add(p)

    def _add(self, p: Policy) -> None:
        if p.id in self._policies or p.id in self.templates:
            raise LinkError(f"duplicate policy id `{p.id}`")
        self._policies[p.id] = p

    @classmethod
    def from_str(cls, text: str, source: str | None = None) -> PolicySet:
        """Policies in Cedar's text, or in its JSON policy format when the text is a JSON
        object (Cedar text never starts with `{`)."""
        if text.lstrip(" \t\r\n\ufeff").startswith("{"):
            return cls.from_json(text, source)
        return cls(parse_policies(text, source))

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any], source: str | None = None) -> PolicySet:
        """A policy set in Cedar's JSON policy format (text, or the decoded object), its
        templates linked as its `templateLinks` say."""
        return policy_set_from_json(data, source)

    def to_json(self) -> dict[str, Any]:
        """The set in Cedar's JSON policy format, as Cedar writes it."""
        return policy_set_to_json(self)

    def to_cedar(self) -> str:
        """The set as Cedar text (refused when it holds linked policies: see
        `policy_set_to_cedar`)."""
        return policy_set_to_cedar(self)

    @classmethod
    def from_file(cls, path: str) -> PolicySet:
        return cls.from_str(read_text(path), source=path)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies.values())

    def __len__(self) -> int:
        return len(self._policies)

    def __getitem__(self, policy_id: str) -> Policy:
        return self._policies[policy_id]

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self._policies

    @property
    def policies(self) -> list[Policy]:
        return list(self._policies.values())

    def template(self, name: str) -> Policy:
        """A template by policy id, or else by its `@id` annotation."""
        if name in self.templates:
            return self.templates[name]
        named = [t for t in self.templates.values() if t.annotation_map.get("id") == name]
        if len(named) == 1:
            return named[0]
        if named:
            raise LinkError(f'several templates are annotated `@id("{name}")`')
        raise LinkError(f"no template named `{name}`")

    def link(self, template_id: str, new_id: str, values: Mapping[str, EntityUID]) -> Policy:
        linked = self.template(template_id).link(new_id, values)
        self._add(linked)
        return linked

    def link_json(self, data: str | list[Any], source: str | None = None) -> list[Policy]:
        """Link templates from template-link JSON, and return the linked policies.

        Accepts Cedar's JSON policy-set form `{"templateId", "newId", "values"}` and the
        Cedar CLI's form `{"template_id", "link_id", "args"}`; slot values are entity
        references (`{"type", "id"}`, `{"__entity": {...}}` or `'Type::"id"'`), and a template
        may be named by its policy id or its `@id` annotation.
        """
        text = data if isinstance(data, str) else None
        try:
            links = loads(data, "template links") if isinstance(data, str) else data
            if not isinstance(links, list):
                raise LinkError("template links must be a JSON list")
            linked: list[Policy] = []
            for i, link in enumerate(links):
                try:
                    linked.append(self._link_one(link, i))
                except CedarError as err:
                    for done in linked:  # link all or nothing
                        del self._policies[done.id]
                    locate_item(err, text, i)  # point at the link
                    raise
            return linked
        except CedarError as err:
            raise LinkError(err.message, loc=err.loc).located(source, text) from None

    def _link_one(self, link: Any, i: int) -> Policy:
        where = f"template link {i}"
        keys = _link_keys(link, where)
        template_id, new_id, values = (link[k] for k in keys)
        if not isinstance(values, dict):
            raise LinkError(f"{where}: `{keys[2]}` must be an object")
        bound = {slot: uid_from_json(v, f"{where}, `{slot}`") for slot, v in values.items()}
        return self.link(str(template_id), str(new_id), bound)


def policy_set_to_json(policies: PolicySet | Iterable[Policy]) -> dict[str, Any]:
    """`{"staticPolicies", "templates", "templateLinks"}`, as Cedar writes a policy set.

    A policy linked from a template of the set is written as a link; every other policy of the
    set is a static policy.
    """
    ps = policies if isinstance(policies, PolicySet) else PolicySet(policies)
    static: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    for p in ps:
        template = ps.templates.get(p.template_id) if p.template_id is not None else None
        if template is None:
            static[p.id] = policy_to_json(p)
        else:
            links.append(link_of(template, p).to_json())
    templates = {t.id: policy_to_json(t) for t in ps.templates.values()}
    return {"staticPolicies": static, "templates": templates, "templateLinks": links}


def policy_set_from_json(data: str | Mapping[str, Any], source: str | None = None) -> PolicySet:
    """A policy set read from Cedar's JSON policy format, its templates linked as the links say
    (all of them, or an error at the link that fails)."""
    read: JsonPolicies = policies_from_json(data, source)
    ps = PolicySet(read.policies, read.templates)
    for i, link in enumerate(read.links):
        try:
            if link.template_id not in ps.templates:
                what = "a static policy" if link.template_id in ps else "no template's id"
                raise LinkError(f"`{link.template_id}` is {what}")
            ps.link(link.template_id, link.new_id, dict(link.values))
        except CedarError as err:
            message = f"template link {i}: {err.message}"
            raise LinkError(message, loc=link.loc).located(read.source, read.text) from None
    return ps


def policy_set_to_cedar(policies: PolicySet | Iterable[Policy]) -> str:
    """Policies as Cedar text, one block each, in order (a policy set: its static policies,
    then its templates, as Cedar prints one).

    Cedar text has no policy ids (a parser names policies `policy0`, `policy1`, ... by place) and
    no template links: a policy set with linked policies is an error, while linked policies
    given one by one are written with their slots filled.
    """
    if isinstance(policies, PolicySet):
        linked = [p for p in policies if p.template_id in policies.templates]
        if linked:
            raise LinkError(
                f"policy `{linked[0].id}` is linked from template `{linked[0].template_id}`, "
                "and Cedar text cannot express template links (write the policy set as JSON)"
            )
        policies = [*policies, *policies.templates.values()]
    return "\n".join(policy_to_cedar(p) for p in policies)


_LINK_KEYS = (("templateId", "newId", "values"), ("template_id", "link_id", "args"))


def _link_keys(link: Any, where: str) -> tuple[str, str, str]:
    if isinstance(link, dict):
        for keys in _LINK_KEYS:
            if set(keys) <= set(link):
                return keys
    raise LinkError(
        f"{where} must be an object with `templateId`, `newId` and `values` "
        "(or `template_id`, `link_id` and `args`)"
    )
