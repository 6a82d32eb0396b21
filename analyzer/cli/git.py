"""Reading policies as they were at a git revision, for `diff --git-base`.

The working tree's files (or the `.cedar` files under its folders) are compared with the
same paths at the revision, read with `git show`; a file that exists on one side only is
added or removed whole. The schema, when it is a file of the repository that changed since
the revision, is read as it was there too. Every problem (no git, not a repository, an
unknown revision, a path outside the repository) is bad input, with git's own words.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace

from cedar_smt.core import CedarError, PolicySet, Schema
from cedar_smt.core.files import not_utf8
from cedar_smt.core.policy import Policy

POLICY_SUFFIX = ".cedar"


def _git(*args: str, cwd: str | None = None) -> bytes:
    """git's output; its complaint as a `CedarError` when it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise CedarError("--git-base needs git, which is not installed (not on PATH)") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CedarError(f"`git {' '.join(args)}` failed: {said[0] if said else 'no message'}")
    return done.stdout


def repository_root(start: str = ".") -> str | None:
    """The top of the git work tree `start` is in, or None outside one (or without git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").strip() or None


@dataclass(frozen=True)
class Versions:
    """Both versions of the policies, as a diff takes them."""

    old: tuple[Policy, ...]
    new: tuple[Policy, ...]
    files: tuple[tuple[str, str], ...]  # (old source, new path) per file, old as `REV:path`
    labels: tuple[str, str]
    old_schema: Schema | None  # the schema at the revision, when it differs
    notes: tuple[str, ...]


class GitBase:
    """The repository around the current directory, at revision `rev`."""

    def __init__(self, rev: str) -> None:
        root = repository_root()
        if root is None:
            raise CedarError(
                "--git-base needs a git repository: the current directory is not in one"
            )
        self.root = root
        self.rev = rev
        if not rev or rev.startswith("-"):
            raise CedarError(f"`{rev}` is not a git revision")
        try:
            _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=root)
        except CedarError:
            raise CedarError(
                f"`{rev}` is not a revision of the git repository at `{root}` (is it fetched? "
                "a shallow clone of CI may need `fetch-depth: 0`)"
            ) from None

    def relative(self, path: str) -> str:
        """`path` relative to the repository's root, in git's spelling."""
        absolute = os.path.realpath(path)
        root = os.path.realpath(self.root)
        if absolute != root and not absolute.startswith(root + os.sep):
            raise CedarError(f"`{path}` is outside the git repository at `{self.root}`")
        return os.path.relpath(absolute, root).replace(os.sep, "/")

    def files_at_rev(self, rel: str) -> list[str]:
        """The repository-relative paths under `rel` (a file or a folder) at the revision."""
        spec = "." if rel == "." else rel
        out = _git("ls-tree", "-r", "--name-only", "-z", self.rev, "--", spec, cwd=self.root)
        return [n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n]

    def read_at_rev(self, rel: str) -> str:
        data = _git("show", f"{self.rev}:{rel}", cwd=self.root)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise not_utf8(f"{self.rev}:{rel}", data, err) from None

    def exists_at_rev(self, rel: str) -> bool:
        return rel in self.files_at_rev(rel)

    def versions(
        self,
        paths: list[str],
        schema_path: str,
        links: str | None = None,
        any_link: bool = False,
    ) -> Versions:
        """The policies of `paths` at the revision and in the working tree (with `any_link`,
        their templates too)."""
        pairs: list[tuple[str, str]] = []  # (repository-relative path, working-tree path)
        for path in paths:
            rel = self.relative(path)
            if os.path.isdir(path) or (not os.path.exists(path) and self._is_folder_at_rev(rel)):
                found = {
                    os.path.relpath(os.path.join(d, n), path): os.path.join(d, n)
                    for d, _, names in os.walk(path)
                    for n in names
                    if n.endswith(POLICY_SUFFIX)
                }
                prefix = "" if rel == "." else rel + "/"
                for name in self.files_at_rev(rel):
                    if name.endswith(POLICY_SUFFIX):
                        inside = name[len(prefix) :]
                        found.setdefault(inside, os.path.join(path, inside))
                for inside in sorted(found):
                    shown = found[inside]
                    pairs.append(
                        (self.relative(shown) if os.path.exists(shown) else prefix + inside, shown)
                    )
            elif os.path.exists(path) or self.exists_at_rev(rel):
                pairs.append((rel, path))
            else:
                raise CedarError(
                    f"`{path}` is neither in the working tree nor at revision `{self.rev}`"
                )
        if not pairs:
            raise CedarError(f"no `{POLICY_SUFFIX}` file in {', '.join(f'`{p}`' for p in paths)}")
        several = len(pairs) > 1
        old: list[Policy] = []
        new: list[Policy] = []
        files = []
        for rel, shown in pairs:
            source = f"{self.rev}:{rel}"
            files.append((source, shown))
            if self.exists_at_rev(rel):
                old.extend(
                    _named(_parsed(self.read_at_rev(rel), source, links, any_link), rel, several)
                )
            if os.path.exists(shown):
                with open(shown, "rb") as f:
                    data = f.read()
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise not_utf8(shown, data, err) from None
                new.extend(_named(_parsed(text, shown, links, any_link), rel, several))
        if len(paths) == 1:
            labels = (f"{self.rev}:{paths[0]}", paths[0])
        else:
            labels = (self.rev, "working tree")
        old_schema, notes = self._old_schema(schema_path)
        return Versions(tuple(old), tuple(new), tuple(files), labels, old_schema, notes)

    def _is_folder_at_rev(self, rel: str) -> bool:
        return any(n != rel for n in self.files_at_rev(rel))

    def _old_schema(self, schema_path: str) -> tuple[Schema | None, tuple[str, ...]]:
        """The schema at the revision, when it is a file of the repository that changed."""
        try:
            rel = self.relative(schema_path)
        except CedarError:
            return None, ()
        if not self.exists_at_rev(rel):
            return None, (f"`{schema_path}` is not at `{self.rev}`: both versions use it as it is",)
        text = self.read_at_rev(rel)
        with open(schema_path, encoding="utf-8", errors="replace") as f:
            if f.read() == text:
                return None, ()
        note = (
            f"the schema changed since `{self.rev}`: the policies there are validated against "
            f"`{self.rev}:{rel}`, and both versions are compared on the requests `{schema_path}` "
            "allows"
        )
        return Schema.from_str(text, source=f"{self.rev}:{rel}"), (note,)


def _parsed(text: str, source: str, links: str | None, any_link: bool = False) -> list[Policy]:
    policies = PolicySet.from_str(text, source=source)
    if links:
        with open(links, encoding="utf-8") as f:
            policies.link_json(f.read(), source=links)
    return [*policies, *(policies.templates.values() if any_link else ())]


def _named(policies: list[Policy], rel: str, several: bool) -> list[Policy]:
    """With several files, ids are made unique by the file's path (`policies/a.cedar#policy0`)."""
    if not several:
        return policies
    return [replace(p, id=f"{rel}#{p.id}") for p in policies]
