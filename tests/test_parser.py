"""The policy parser: what each construct means, and what each mistake is told.

Valid cases state the fully parenthesised expression the text stands for (so precedence and
desugaring are pinned down); invalid cases state the message and the line:column. Every case
is also checked against cedarpy, so we accept exactly what Cedar accepts.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cedar_smt.core import Entities, ParseError, PolicySet, Request, is_authorized, parse_expr
from cedar_smt.core.ast import to_source
from cedar_smt.core.errors import LinkError
from cedar_smt.core.parser import parse_policies
from cedar_smt.core.values import EntityUID

VALID_EXPRESSIONS = [
    # (name, Cedar text, the expression it stands for)
    ("or binds looser than and", "true || false && true", "(true || (false && true))"),
    ("and is left associative", "true && false && true", "((true && false) && true)"),
    ("not equal is negated equality", "1 != 2", "(!(1 == 2))"),
    ("greater than swaps operands", "1 > 2", "(2 < 1)"),
    ("greater or equal swaps operands", "1 >= 2", "(2 <= 1)"),
    ("arithmetic precedence", "1 + 2 * 3 - 4", "((1 + (2 * 3)) - 4)"),
    ("comparison of sums", "1 + 1 < 3", "((1 + 1) < 3)"),
    ("negative literal", "-9223372036854775808 < 0", "((-9223372036854775808) < 0)"),
    ("double negation keeps the literal", "--1 == 1", "((-((-1))) == 1)"),
    ("negation of a parenthesised literal", "-(1) == -1", "((-(1)) == (-1))"),
    ("four bangs", "!!!!true", "(!(!(!(!true))))"),
    ("if then else", "if true then 1 else 2", "(if true then 1 else 2)"),
    (
        "else branch takes a relation",
        "if true then 1 else 2 == 2",
        "(if true then 1 else (2 == 2))",
    ),
    ("in", 'principal in Group::"g"', '(principal in Group::"g")'),
    (
        "in a set",
        'principal in [Group::"a", Group::"b"]',
        '(principal in [Group::"a", Group::"b"])',
    ),
    ("has an identifier", "principal has name", "(principal has name)"),
    ("has a string", 'principal has "first name"', '(principal has "first name")'),
    (
        "has a path",
        "context has a.b.c",
        "(((context has a) && (context.a has b)) && (context.a.b has c))",
    ),
    ("like with wildcard and escaped star", r'"a*" like "a\**"', r'("a*" like "a\**")'),
    ("like with unicode-escaped star is a wildcard", r'"a" like "\u{2a}"', '("a" like "*")'),
    ("is", "principal is User", "(principal is User)"),
    ("is with namespace", "principal is A::B::User", "(principal is A::B::User)"),
    (
        "is in",
        'principal is User in Group::"g"',
        '((principal is User) && (principal in Group::"g"))',
    ),
    ("attribute access", 'context.a["b c"].d', 'context.a["b c"].d'),
    ("contains", "[1, 2].contains(1)", "[1, 2].contains(1)"),
    ("containsAll", "[1].containsAll([1])", "[1].containsAll([1])"),
    ("containsAny", "[1].containsAny([1])", "[1].containsAny([1])"),
    ("isEmpty", "[].isEmpty()", "[].isEmpty()"),
    (
        "tags",
        'principal.hasTag("t") && principal.getTag("t")',
        '(principal.hasTag("t") && principal.getTag("t"))',
    ),
    ("extension constructor", 'decimal("1.5")', 'decimal("1.5")'),
    (
        "extension method",
        'ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))',
        'ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))',
    ),
    (
        "datetime methods",
        'datetime("2024-01-01").offset(duration("1h"))',
        'datetime("2024-01-01").offset(duration("1h"))',
    ),
    (
        "set and record literals with trailing commas",
        "[1, 2,] == [1, 2] && {a: 1,} == {a: 1}",
        "(([1, 2] == [1, 2]) && ({a: 1} == {a: 1}))",
    ),
    ("record with string keys", '{"a b": 1, "if": 2}', '{"a b": 1, "if": 2}'),
    ("record fields are kept in key order", '{b: 1, "a": 2}', "{a: 2, b: 1}"),
    ("namespaced entity", 'A::B::C::"x" == principal', '(A::B::C::"x" == principal)'),
    (
        "escapes in strings",
        r'"\n\t\r\\\"\'\0\x41\u{1F600}" == ""',
        '("\\n\\t\\r\\\\\\"\'\\0A😀" == "")',
    ),
    ("variables as attribute names", "principal.principal", "principal.principal"),
    ("comments", "1 == // a comment\n 1", "(1 == 1)"),
    ("a comment ends at a carriage return", "1 == // a comment\r 1", "(1 == 1)"),
    (
        "a keyword glued to a string or number",
        '1in [1] && "a"like "a"',
        '((1 in [1]) && ("a" like "a"))',
    ),
    ("raw line feeds and tabs in a string", '"a\n\tb" == ""', '("a\\n\\tb" == "")'),
    ("Unicode spaces between tokens", "1\u3000==\u00a01\u2028&&\u0085true", "((1 == 1) && true)"),
]


@pytest.mark.parametrize(
    ("name", "text", "meaning"),
    VALID_EXPRESSIONS,
    ids=[c[0] for c in VALID_EXPRESSIONS],
)
def test_expression_means(name: str, text: str, meaning: str) -> None:
    assert to_source(parse_expr(text)) == meaning
    assert parse_expr(to_source(parse_expr(text))) == parse_expr(text)


INVALID_POLICIES = [
    # (name, policy text, message, line:column)
    ("missing semicolon", "permit(principal, action, resource)", "unexpected end of input", "1:36"),
    (
        "unknown effect",
        "allow(principal, action, resource);",
        "expected `permit` or `forbid`, found `allow`",
        "1:1",
    ),
    (
        "scope out of order",
        "permit(action, principal, resource);",
        "expected `principal`, found `action`",
        "1:8",
    ),
    (
        "an action of another type",
        'permit(principal, action == Act::"a", resource);',
        'expected an entity uid with type `Action` but got `Act::"a"`',
        "1:29",
    ),
    (
        "actions of other types in a list",
        'permit(principal, action in [A::"a", Action::"b", NS::Action::"c", B::"d"], resource);',
        'expected entity uids with type `Action` but got `A::"a"` and `B::"d"`',
        "1:29",
    ),
    (
        "unknown condition keyword",
        "permit(principal, action, resource) if { true };",
        "expected `when` or `unless`, found `if`",
        "1:37",
    ),
    (
        "empty condition",
        "permit(principal, action, resource) when { };",
        "unexpected token `}`",
        "1:44",
    ),
    (
        "chained comparison",
        "permit(principal, action, resource) when { 1 < 2 < 3 };",
        "unexpected token `<`",
        "1:50",
    ),
    (
        "reserved attribute",
        "permit(principal, action, resource) when { principal.if };",
        "this identifier is reserved and cannot be used: if",
        "1:54",
    ),
    (
        "reserved record key",
        "permit(principal, action, resource) when { {then: 1} == {} };",
        "this identifier is reserved and cannot be used: then",
        "1:45",
    ),
    (
        "duplicate record key",
        'permit(principal, action, resource) when { {a: 1, "a": 2} == {} };',
        "duplicate key `a` in record literal",
        "1:51",
    ),
    (
        "unknown variable",
        "permit(principal, action, resource) when { user };",
        "invalid variable: user",
        "1:44",
    ),
    (
        "unknown function",
        "permit(principal, action, resource) when { foo(1) };",
        "`foo` is not a valid function",
        "1:44",
    ),
    (
        "method called as function",
        'permit(principal, action, resource) when { lessThan(decimal("1.0"), decimal("2.0")) };',
        "`lessThan` is a method, not a function",
        "1:44",
    ),
    (
        "unknown method",
        "permit(principal, action, resource) when { context.foo() };",
        "`foo` is not a valid method",
        "1:52",
    ),
    (
        "function called as method",
        'permit(principal, action, resource) when { "1.0".decimal() };',
        "`decimal` is a function, not a method",
        "1:50",
    ),
    (
        "wrong arity of a builtin method",
        "permit(principal, action, resource) when { [1].contains() };",
        "call to `contains` requires exactly 1 argument, but got 0 arguments",
        "1:44",
    ),
    (
        "integer too large",
        "permit(principal, action, resource) when { 9223372036854775808 > 0 };",
        "integer literal `9223372036854775808` is too large",
        "1:44",
    ),
    (
        "negative integer too large",
        "permit(principal, action, resource) when { -9223372036854775809 > 0 };",
        "integer literal `9223372036854775809` is too large",
        "1:45",
    ),
    (
        "too many negations",
        "permit(principal, action, resource) when { !!!!!true };",
        "too many occurrences of `!`",
        "1:44",
    ),
    (
        "mixed unary operators",
        "permit(principal, action, resource) when { !-1 };",
        "unexpected token `-`",
        "1:45",
    ),
    (
        "invalid escape",
        r'permit(principal, action, resource) when { "\q" == "" };',
        "the input `\\q` is not a valid escape",
        "1:44",
    ),
    (
        "escape outside ascii",
        r'permit(principal, action, resource) when { "\x80" == "" };',
        "the input `\\x80` is not a valid escape",
        "1:44",
    ),
    (
        "surrogate escape",
        r'permit(principal, action, resource) when { "\u{D800}" == "" };',
        "the input `\\u{D800}` is not a valid escape",
        "1:44",
    ),
    (
        "reserved __cedar name",
        "permit(principal is __cedar::User, action, resource);",
        "the name `__cedar::User` contains `__cedar`, which is reserved",
        "1:21",
    ),
    (
        "slot in a condition",
        "permit(principal, action, resource) when { principal == ?principal };",
        "found template slot ?principal in a `when` clause",
        "1:57",
    ),
    (
        "wrong slot for the variable",
        "permit(principal == ?resource, action, resource);",
        "expected `?principal`, found `?resource`",
        "1:21",
    ),
    (
        "slot in the action scope",
        "permit(principal, action == ?action, resource);",
        "invalid template slot `?action`",
        "1:29",
    ),
    (
        "principal in a list",
        'permit(principal in [User::"a"], action, resource);',
        "`principal in [...]` is not allowed; only `action` can be in a list",
        "1:8",
    ),
    (
        "is on action",
        "permit(principal, action is Action, resource);",
        "`is` is not allowed in the action scope",
        "1:19",
    ),
    (
        "duplicate annotation",
        '@id("a") @id("b") permit(principal, action, resource);',
        "duplicate annotation: @id",
        "1:11",
    ),
    (
        "unexpected character",
        "permit(principal, action, resource) when { 1 # 2 };",
        "unexpected character `#`",
        "1:46",
    ),
    (
        "action scope naming another type",
        'permit(principal, action in Team::"x", resource);',
        'expected an entity uid with type `Action` but got `Team::"x"`',
        "1:29",
    ),
    (
        "action scope naming a type that ends in Action",
        'permit(principal, action == ActionX::"a", resource);',
        'expected an entity uid with type `Action` but got `ActionX::"a"`',
        "1:29",
    ),
    (
        "action list naming another type",
        'permit(principal, action in [Action::"GetList", Team::"x"], resource);',
        'expected an entity uid with type `Action` but got `Team::"x"`',
        "1:49",
    ),
    (
        "`is` glued to a type",
        "permit(principal isUser, action, resource);",
        "unexpected token `isUser`",
        "1:18",
    ),
    (
        "`in` glued to a variable",
        "permit(principal inresource, action, resource);",
        "unexpected token `inresource`",
        "1:18",
    ),
    (
        "`is` glued to a method name",
        "permit(principal, action, resource) when { true isEmpty };",
        "unexpected token `isEmpty`",
        "1:49",
    ),
    (
        "`then` and `else` glued to literals",
        "permit(principal, action, resource) when { if true thenfalse elsefalse };",
        "unexpected token `thenfalse`; expected `then`",
        "1:52",
    ),
    (
        "a raw carriage return in a string",
        'permit(principal, action, resource) when { "a\rb" == "" };',
        "a string may not hold a raw carriage return (U+000D); write it `\\r`",
        "1:44",
    ),
    (
        "a backslash before a line feed in a string",
        'permit(principal, action, resource) when { "a\\\nb" == "" };',
        "unterminated string literal",
        "1:44",
    ),
    (
        "a byte order mark",
        "\ufeffpermit(principal, action, resource);",
        "the text starts with a byte order mark (U+FEFF), which Cedar does not read",
        "1:1",
    ),
    (
        "a NUL character",
        "permit(principal, action, resource);\x00",
        "unexpected character U+0000",
        "1:37",
    ),
    (
        "a zero-width space, which is not whitespace",
        "permit(principal,\u200baction, resource);",
        "unexpected character U+200B (zero width space)",
        "1:18",
    ),
    (
        "an integer of 5,000 digits",
        "permit(principal, action, resource) when { " + "9" * 5000 + " > 0 };",
        "integer literal `99999999999999999999999999999999999"
        "99... (5,000 characters)` is too large",
        "1:44",
    ),
    (
        "error on a later line",
        "permit(principal, action, resource);\n"
        "forbid(principal, action, resource)\nwhen { true && };",
        "unexpected token `}`",
        "3:16",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "message", "where"), INVALID_POLICIES, ids=[c[0] for c in INVALID_POLICIES]
)
def test_invalid_policy_message(name: str, text: str, message: str, where: str) -> None:
    with pytest.raises(ParseError) as info:
        PolicySet.from_str(text, source="p.cedar")
    err = info.value
    assert message in err.message
    assert str(err.loc) == where
    assert str(err).startswith(f"p.cedar:{where}: ")
    rendered = err.render().splitlines()
    assert rendered[2].index("^") - 2 == err.loc.column - 1  # caret under the column


def test_a_scope_may_end_with_a_comma_as_in_cedar() -> None:
    (p,) = parse_policies('permit(principal, action, resource in G::"g",) when { true };')
    assert _cedar_accepts(p.text or "")
    with pytest.raises(ParseError):
        parse_policies("permit(principal, action, resource,,);")
    assert not _cedar_accepts("permit(principal, action, resource,,);")


def test_policy_ids_are_positional_and_annotations_kept() -> None:
    ps = PolicySet.from_str(
        '@id("first") @advice permit(principal, action, resource);\n'
        "forbid(principal, action, resource) when { false };"
    )
    assert [p.id for p in ps] == ["policy0", "policy1"]
    assert ps["policy0"].annotation_map == {"id": "first", "advice": None}
    assert ps["policy0"].annotations == (("advice", None), ("id", "first"))  # Cedar's order
    assert ps["policy0"].display_name == "first"
    assert ps["policy1"].display_name == "policy1"


SCOPES = [
    ("principal", "true"),
    ('principal == User::"a"', '(principal == User::"a")'),
    ('principal in Group::"g"', '(principal in Group::"g")'),
    ("principal is User", "(principal is User)"),
    ('principal is User in Group::"g"', '((principal is User) && (principal in Group::"g"))'),
]


@pytest.mark.parametrize(("scope", "meaning"), SCOPES)
def test_scope_means(scope: str, meaning: str) -> None:
    (policy,) = parse_policies(f"permit({scope}, action, resource);")
    assert to_source(policy.to_expr()) == f"({meaning} && (true && (true && true)))"


def test_action_scope_forms() -> None:
    (eq, in_one, in_list) = parse_policies(
        'permit(principal, action == Action::"a", resource);'
        'permit(principal, action in Action::"g", resource);'
        'permit(principal, action in [Action::"a", Action::"b",], resource);'
    )
    assert '(action == Action::"a")' in to_source(eq.to_expr())
    assert '(action in Action::"g")' in to_source(in_one.to_expr())
    assert '(action in [Action::"a", Action::"b"])' in to_source(in_list.to_expr())


def test_an_action_in_a_list_of_one_is_in_that_action_as_in_cedar() -> None:
    (in_list, in_one) = parse_policies(
        'permit(principal, action in [Action::"a"], resource);'
        'permit(principal, action in Action::"a", resource);'
    )
    assert in_list == replace(in_one, id=in_list.id)


def test_conditions_are_anded_in_order_and_unless_negates() -> None:
    (policy,) = parse_policies(
        "permit(principal, action, resource) when { 1 == 1 } unless { 2 == 3 } when { true };"
    )
    assert to_source(policy.to_expr()) == (
        "(true && (true && (true && ((1 == 1) && ((!(2 == 3)) && true)))))"
    )


def test_templates_link_from_both_json_forms() -> None:
    ps = PolicySet.from_str(
        '@id("view") permit(principal == ?principal, action, resource in ?resource);\n'
        "permit(principal, action, resource);"
    )
    assert [p.id for p in ps] == ["policy1"]
    assert list(ps.templates) == ["policy0"]
    linked = ps.link_json(
        '[{"templateId": "policy0", "newId": "alice-a", "values": '
        '{"?principal": {"type": "User", "id": "alice"}, '
        '"?resource": {"__entity": {"type": "F", "id": "a"}}}},'
        ' {"template_id": "view", "link_id": "bob-b", "args": '
        '{"?principal": "User::\\"bob\\"", "?resource": "F::\\"b\\""}}]'
    )
    assert [p.id for p in linked] == ["alice-a", "bob-b"]
    assert to_source(ps["bob-b"].to_expr()).startswith('((principal == User::"bob") && ')
    assert ps["bob-b"].template_id == "policy0"


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ('[{"templateId": "nope", "newId": "x", "values": {}}]', "no template named `nope`"),
        (
            '[{"templateId": "policy0", "newId": "x", '
            '"values": {"?principal": {"type": "U", "id": "a"}}}]',
            "missing values for ?resource",
        ),
        (
            '[{"templateId": "policy0", "newId": "policy0", "values": '
            '{"?principal": {"type": "U", "id": "a"}, "?resource": {"type": "U", "id": "a"}}}]',
            "duplicate policy id `policy0`",
        ),
        ('{"templateId": "policy0"}', "template links must be a JSON list"),
        ("[{]", "template links is not valid JSON"),
    ],
)
def test_bad_template_links(links: str, message: str) -> None:
    ps = PolicySet.from_str("permit(principal == ?principal, action, resource in ?resource);")
    with pytest.raises(LinkError) as info:
        ps.link_json(links, source="links.json")
    assert message in str(info.value)
    assert str(info.value).startswith("links.json")
    if links.startswith('[{"templateId'):  # an error about one link points at it
        assert str(info.value).startswith("links.json:1:2: ")


def test_a_link_error_names_the_line_and_column_of_that_link() -> None:
    ps = PolicySet.from_str("permit(principal == ?principal, action, resource);")
    links = (
        '[\n  {"templateId": "policy0", "newId": "a", "values": {"?principal": "U::\\"a\\""}},\n'
        '  {"templateId": "policy0", "newId": "a", "values": {"?principal": "U::\\"b\\""}}\n]'
    )
    with pytest.raises(LinkError) as info:
        ps.link_json(links, source="links.json")
    assert str(info.value) == "links.json:3:3: duplicate policy id `a`"
    assert list(ps) == []  # all or nothing: the first link is not left behind


def test_entity_uid_round_trips_through_its_display() -> None:
    uid = EntityUID("A::B", 'we"ird\n\u0001id')
    assert parse_expr(str(uid)).value == uid  # type: ignore[union-attr]


cedarpy = pytest.importorskip("cedarpy")


def _cedar_accepts(policy_text: str) -> bool:
    result = cedarpy.is_authorized(
        {"principal": 'User::"a"', "action": 'Action::"x"', "resource": 'R::"r"', "context": {}},
        policy_text,
        [],
    )
    return not any("parse error" in e for e in result.diagnostics.errors)


@pytest.mark.parametrize(
    ("name", "text", "meaning"), VALID_EXPRESSIONS, ids=[c[0] for c in VALID_EXPRESSIONS]
)
def test_cedar_accepts_valid_cases(name: str, text: str, meaning: str) -> None:
    assert _cedar_accepts(f"permit(principal, action, resource) when {{ {text}\n}};")


@pytest.mark.parametrize(
    ("name", "text", "message", "where"), INVALID_POLICIES, ids=[c[0] for c in INVALID_POLICIES]
)
def test_cedar_rejects_invalid_cases(name: str, text: str, message: str, where: str) -> None:
    assert not _cedar_accepts(text)


def test_record_fields_are_evaluated_in_key_order_as_in_cedar() -> None:
    text = 'permit(principal, action, resource) when { {b: 1 + "x", a: context.nope} == {} };'
    request = {"principal": 'U::"a"', "action": 'Action::"a"', "resource": 'R::"r"', "context": {}}
    ours = is_authorized(Request.from_json(request), PolicySet.from_str(text), Entities([]))
    (theirs,) = cedarpy.is_authorized(request, text, []).diagnostics.errors
    assert theirs.endswith(ours.errors["policy0"])  # `a` errors first


# Cedar's lexer skips Unicode's White_Space between tokens, and nothing else
WHITESPACE = [chr(c) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680)]
WHITESPACE += [chr(c) for c in (*range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)]
NOT_WHITESPACE = ["\x1c", "\x1f", "\u180e", "\u200b", "\u2060", "\ufeff", "\x00", "\x7f"]


@pytest.mark.parametrize(
    "ch", WHITESPACE + NOT_WHITESPACE, ids=[f"U+{ord(c):04X}" for c in WHITESPACE + NOT_WHITESPACE]
)
def test_whitespace_between_tokens_and_in_comments_is_cedars(ch: str) -> None:
    between = f"permit(principal,{ch}action, resource);"
    ends_comment = f"permit(principal, action, resource) // a comment{ch};"
    for text in (between, ends_comment):
        try:
            PolicySet.from_str(text)
            ours = True
        except ParseError:
            ours = False
        assert ours == _cedar_accepts(text), repr(text)
    assert (ch in WHITESPACE) == _accepts(between)


def _accepts(text: str) -> bool:
    try:
        PolicySet.from_str(text)
    except ParseError:
        return False
    return True


def test_lines_are_counted_at_line_feeds_only() -> None:
    with pytest.raises(ParseError) as info:
        PolicySet.from_str("permit(principal,\u2028action,\rresource)\nwhen { 1 + };", source="p")
    assert str(info.value.loc) == "2:12"
    assert info.value.render().splitlines()[1:] == ["  when { 1 + };", "             ^"]
