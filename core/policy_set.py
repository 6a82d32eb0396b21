"""Policy sets: static policies and linked templates in order, the templates themselves, and
linking from Cedar's template-link JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cedar_smt.core.errors import CedarError, LinkError
from cedar_smt.core.files import read_text
from cedar_smt.core.json_text import loads, locate_item
from cedar_smt.core.json_values import uid_from_json
from cedar_smt.core.parser import parse_policies
from cedar_smt.core.policy import Policy
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
        return cls(parse_policies(text, source))

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
