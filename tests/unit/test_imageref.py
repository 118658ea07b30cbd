"""Tests for image reference parsing, normalisation, classification and local matching."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dockyard.images.ref import ImageKind, ImageRef, InvalidImageRef, classify, matches_local

D = "sha256:" + "0123456789abcdef" * 4
D2 = "sha256:" + "fedcba9876543210" * 4
D512 = "sha512:" + "ab" * 64
HUB = "docker.io"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "implicit", "familiar", "canonical"),
    [
        ("busybox", HUB, "library/busybox", "latest", None, True,
         "busybox:latest", "docker.io/library/busybox"),
        ("library/busybox", HUB, "library/busybox", "latest", None, True,
         "busybox:latest", "docker.io/library/busybox"),
        ("docker.io/busybox:1.36", HUB, "library/busybox", "1.36", None, False,
         "busybox:1.36", "docker.io/library/busybox:1.36"),
        ("index.docker.io/busybox:1.36", HUB, "library/busybox", "1.36", None, False,
         "busybox:1.36", "docker.io/library/busybox:1.36"),
        ("docker.io/library/busybox:latest", HUB, "library/busybox", "latest", None, False,
         "busybox:latest", "docker.io/library/busybox:latest"),
        ("postgres:15-alpine", HUB, "library/postgres", "15-alpine", None, False,
         "postgres:15-alpine", "docker.io/library/postgres:15-alpine"),
        ("bitnami/redis:7.2", HUB, "bitnami/redis", "7.2", None, False,
         "bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
        ("docker.io/library/a/b:1", HUB, "library/a/b", "1", None, False,
         "library/a/b:1", "docker.io/library/a/b:1"),
        ("localhost:5000/a/b/c:tag", "localhost:5000", "a/b/c", "tag", None, False,
         "localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag"),
        ("localhost/app", "localhost", "app", "latest", None, True,
         "localhost/app:latest", "localhost/app"),
        (f"127.0.0.1:5000/app@{D}", "127.0.0.1:5000", "app", None, D, False,
         f"127.0.0.1:5000/app@{D}", f"127.0.0.1:5000/app@{D}"),
        ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None, False,
         "[::1]:5000/x:y", "[::1]:5000/x:y"),
        ("[fe80::1]/x", "[fe80::1]", "x", "latest", None, True,
         "[fe80::1]/x:latest", "[fe80::1]/x"),
        (f"ghcr.io/org/name:v1.2.3@{D}", "ghcr.io", "org/name", "v1.2.3", D, False,
         f"ghcr.io/org/name:v1.2.3@{D}", f"ghcr.io/org/name:v1.2.3@{D}"),
        (f"busybox:latest@{D512}", HUB, "library/busybox", "latest", D512, False,
         f"busybox:latest@{D512}", f"docker.io/library/busybox:latest@{D512}"),
        ("reg.example.com:443/team/sub/app:2024.01_rc-1", "reg.example.com:443", "team/sub/app",
         "2024.01_rc-1", None, False, "reg.example.com:443/team/sub/app:2024.01_rc-1",
         "reg.example.com:443/team/sub/app:2024.01_rc-1"),
        ("a__b/c-d---e.f_g:_X", HUB, "a__b/c-d---e.f_g", "_X", None, False,
         "a__b/c-d---e.f_g:_X", "docker.io/a__b/c-d---e.f_g:_X"),
        # Docker's domain rules: '.', ':', "localhost" or uppercase in a first component of
        # several makes it a registry; a lone component is always a Docker Hub name.
        ("a.b/c", "a.b", "c", "latest", None, True, "a.b/c:latest", "a.b/c"),
        ("Foo/bar", "Foo", "bar", "latest", None, True, "Foo/bar:latest", "Foo/bar"),
        ("example.com", HUB, "library/example.com", "latest", None, True,
         "example.com:latest", "docker.io/library/example.com"),
        ("localhost:5000", HUB, "library/localhost", "5000", None, False,
         "localhost:5000", "docker.io/library/localhost:5000"),
        ("busybox:Latest", HUB, "library/busybox", "Latest", None, False,
         "busybox:Latest", "docker.io/library/busybox:Latest"),
    ],
)  # fmt: skip
def test_parse_valid(
    text: str,
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    implicit: bool,
    familiar: str,
    canonical: str,
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.tag_implicit) == (
        registry,
        repository,
        tag,
        digest,
        implicit,
    )
    assert ref.name == f"{registry}/{repository}"
    assert ref.familiar == familiar
    assert ref.canonical == canonical == str(ref)
    assert ImageRef.parse(canonical) == ref


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty reference"),
        ("UPPER", "repository 'UPPER' must be lowercase"),
        ("library/Busybox:1", "'library/Busybox' must be lowercase"),
        ("localhost:5000/App:1", "'App' must be lowercase"),
        ("busybox:", "tag after ':' is empty"),
        (":tag", "repository name is missing"),
        (f"@{D}", "repository name is missing"),
        ("busybox:1:2", "tag '1:2' is not valid"),
        ("busybox:-x", "tag '-x' is not valid"),
        ("busybox:.x", "tag '.x' is not valid"),
        ("busybox:vé", "tag 'vé' is not valid"),
        ("busybox:1.0\n", "tag '1.0\\n' is not valid"),
        ("busybox:" + "a" * 129, "tag is 129 characters long, at most 128"),
        ("busybox@sha256:abc", "sha256 digest needs 64 hex characters, got 3"),
        ("busybox@" + D[:-1], "sha256 digest needs 64 hex characters, got 63"),
        ("busybox@" + D512[:-2], "sha512 digest needs 128 hex characters, got 126"),
        ("busybox@" + D.upper().replace("SHA256", "sha256"), "must be lowercase hex"),
        ("busybox@SHA256:" + D[7:], "unsupported digest algorithm 'SHA256'"),
        ("busybox@md5:" + "0" * 32, "unsupported digest algorithm 'md5'"),
        ("busybox@sha256", "is not of the form algorithm:hex"),
        ("busybox@", "is not of the form algorithm:hex"),
        (f"busybox@{D}@{D}", "sha256 digest needs 64 hex characters, got 136"),
        ("a..b", "'a..b' is not valid"),
        ("a___b", "'a___b' is not valid"),
        ("-a", "'-a' is not valid"),
        ("a-/b", "'a-/b' is not valid"),
        ("a//b", "'a//b' is not valid"),
        ("app/", "'app/' is not valid"),
        ("/app", "'/app' is not valid"),
        ("busy box", "'busy box' is not valid"),
        ("busybox\n", "'busybox\\n' is not valid"),
        ("0123456789abcdef" * 4, "image ID, not a repository name"),
        ("foo_bar.com/x", "registry 'foo_bar.com' is not a valid host[:port]"),
        ("example.com:http/x", "registry 'example.com:http' is not a valid host[:port]"),
        ("-reg.io/x", "registry '-reg.io' is not a valid host[:port]"),
        ("[::1%eth0]:5000/x", "registry '[::1%eth0]:5000' is not a valid host[:port]"),
        ("a/" + "b" * 254, "is longer than 255 characters"),
        ("c" * 250, "'library/" + "c" * 250 + "' is longer than 255 characters"),
    ],
)
def test_parse_invalid_names_the_reference_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidImageRef) as caught:
        ImageRef.parse(text)
    assert isinstance(caught.value, ValueError)
    assert caught.value.ref == text
    assert str(caught.value) == f"invalid image reference {text!r}: {caught.value.reason}"
    assert problem in caught.value.reason


def test_longest_repository_is_accepted() -> None:
    assert ImageRef.parse("a/" + "b" * 253).repository == "a/" + "b" * 253


@pytest.mark.parametrize(
    ("text", "pull_ref", "api_host"),
    [
        ("busybox", "docker.io/library/busybox:latest", "registry-1.docker.io"),
        ("postgres:15", "docker.io/library/postgres:15", "registry-1.docker.io"),
        (f"ghcr.io/o/n:v1@{D}", f"ghcr.io/o/n@{D}", "ghcr.io"),
        (f"127.0.0.1:5000/app@{D}", f"127.0.0.1:5000/app@{D}", "127.0.0.1:5000"),
        ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000"),
    ],
)
def test_pull_ref_and_registry_api_host(text: str, pull_ref: str, api_host: str) -> None:
    ref = ImageRef.parse(text)
    assert ref.pull_ref == pull_ref
    assert ref.registry_api_host == api_host


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("busybox", f"docker.io/library/busybox@{D2}"),
        ("127.0.0.1:5000/app:v1", f"127.0.0.1:5000/app:v1@{D2}"),
        (f"127.0.0.1:5000/app@{D}", f"127.0.0.1:5000/app@{D2}"),
    ],
)
def test_with_digest_drops_only_an_implicit_tag(text: str, canonical: str) -> None:
    ref = ImageRef.parse(text)
    pinned = ref.with_digest(D2)
    assert pinned.canonical == canonical
    assert ImageRef.parse(canonical) == pinned
    assert ImageRef.parse(text) == ref


def test_with_digest_rejects_a_bad_digest() -> None:
    with pytest.raises(InvalidImageRef, match=r"'docker.io/library/busybox@sha256:beef'"):
        ImageRef.parse("busybox").with_digest("sha256:beef")


def test_image_ref_is_frozen() -> None:
    ref = ImageRef.parse("busybox")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "1.36"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "per_deploy", "moving", "kind"),
    [
        ("busybox", False, (), ImageKind.MUTABLE),
        ("busybox:latest", False, (), ImageKind.MUTABLE),
        ("busybox:latest", False, ("stable",), ImageKind.MUTABLE),
        ("app:stable", False, ("stable", "edge"), ImageKind.MUTABLE),
        ("app:stable", False, (), ImageKind.MUTABLE),
        ("app:master", False, (), ImageKind.MUTABLE),
        ("app:stable-alpine", False, (), ImageKind.MUTABLE),
        ("app:Stable", False, (), ImageKind.VERSION),
        ("app:v1.2", False, (), ImageKind.VERSION),
        ("app:prod", False, (), ImageKind.VERSION),
        ("app:prod", False, ("prod",), ImageKind.MUTABLE),
        ("postgres:15-alpine", False, ("stable",), ImageKind.VERSION),
        (f"app@{D}", False, (), ImageKind.DIGEST),
        (f"app:latest@{D}", False, (), ImageKind.DIGEST),
        (f"app:stable@{D}", False, ("stable",), ImageKind.DIGEST),
        (f"app@{D}", True, (), ImageKind.PER_DEPLOY),
        ("busybox", True, (), ImageKind.PER_DEPLOY),
        ("app:v1", True, (), ImageKind.PER_DEPLOY),
    ],
)
def test_classify(text: str, per_deploy: bool, moving: tuple[str, ...], kind: ImageKind) -> None:
    assert classify(ImageRef.parse(text), per_deploy=per_deploy, moving_tags=moving) is kind


def test_classify_accepts_any_iterable_but_not_a_bare_string() -> None:
    ref = ImageRef.parse("app:blue")
    assert classify(ref, moving_tags=iter(["blue"])) is ImageKind.MUTABLE
    with pytest.raises(TypeError, match="not a single string"):
        classify(ref, moving_tags="blue")


def test_image_kind_values() -> None:
    assert [k.value for k in ImageKind] == ["digest", "version", "mutable", "per-deploy"]


@pytest.mark.parametrize(
    ("text", "repo_digests", "repo_tags", "present"),
    [
        (f"127.0.0.1:5000/app@{D}", [f"127.0.0.1:5000/app@{D}"], [], True),
        (f"127.0.0.1:5000/app@{D}", [f"127.0.0.1:5000/app@{D2}"], [], False),
        (f"127.0.0.1:5000/app@{D}", [f"127.0.0.1:5000/other@{D}"], [], False),
        (f"127.0.0.1:5000/app@{D}", [], ["127.0.0.1:5000/app:latest"], False),
        (f"docker.io/library/busybox@{D}", [f"busybox@{D}"], [], True),
        (f"busybox@{D}", [f"docker.io/library/busybox@{D}"], [], True),
        (f"127.0.0.1:5000/app:v1@{D}", [f"127.0.0.1:5000/app@{D2}"], ["127.0.0.1:5000/app:v1"],
         False),
        (f"127.0.0.1:5000/app:v1@{D}", ["<none>@<none>", f"127.0.0.1:5000/app@{D}"], [], True),
        ("127.0.0.1:5000/app:v1", [], ["127.0.0.1:5000/app:v1"], True),
        ("127.0.0.1:5000/app:v1", [], ["127.0.0.1:5000/app:v2"], False),
        ("127.0.0.1:5000/app:v1", [], ["127.0.0.1:5000/other:v1", "app:v1"], False),
        ("127.0.0.1:5000/app:v1", [f"127.0.0.1:5000/app@{D}"], [], False),
        ("busybox", [], ["busybox:latest"], True),
        ("busybox", [], ["<none>:<none>"], False),
    ],
)  # fmt: skip
def test_matches_local(
    text: str, repo_digests: list[str], repo_tags: list[str], present: bool
) -> None:
    assert matches_local(ImageRef.parse(text), repo_digests, repo_tags) is present


# Property tests: references built from the grammar in distribution/reference (reference.go).

LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"

alnums = st.text(LOWER_ALNUM, min_size=1, max_size=6)
separators = st.sampled_from([".", "_", "__"]) | st.integers(1, 3).map(lambda n: "-" * n)
path_components = st.builds(
    lambda head, tail: head + "".join(s + a for s, a in tail),
    alnums,
    st.lists(st.tuples(separators, alnums), max_size=3),
)
domain_components = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
ports = st.integers(0, 99999).map(lambda p: f":{p}")
hosts = st.one_of(
    st.lists(domain_components, min_size=2, max_size=4).map(".".join),
    st.just("localhost"),
    st.lists(st.integers(0, 255).map(str), min_size=4, max_size=4).map(".".join),
    # an IPv6 host needs a ':' to be read as a registry, "[0]" alone is a path component
    st.lists(st.text("0123456789abcdefABCDEF", max_size=4), min_size=2, max_size=8).map(
        lambda groups: f"[{':'.join(groups)}]"
    ),
)
domains = st.one_of(
    st.builds(str.__add__, hosts, ports | st.just("")),
    st.builds(str.__add__, domain_components, ports),
    domain_components.filter(lambda c: c != c.lower()),
).filter(lambda d: d != "index.docker.io")
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True)
digests = st.sampled_from([("sha256", 64), ("sha384", 96), ("sha512", 128)]).flatmap(
    lambda alg: st.text("0123456789abcdef", min_size=alg[1], max_size=alg[1]).map(
        lambda hex_: f"{alg[0]}:{hex_}"
    )
)


class Parts(NamedTuple):
    domain: str | None
    path: list[str]
    tag: str | None
    digest: str | None

    def text(self) -> str:
        return (
            (f"{self.domain}/" if self.domain else "")
            + "/".join(self.path)
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


@st.composite
def references(draw: st.DrawFn) -> Parts:
    domain = draw(st.none() | domains)
    path = draw(st.lists(path_components, min_size=1, max_size=4))
    if domain is None and len(path) > 1:
        # Such a first component would be read as a registry (covered by the table tests).
        assume("." not in path[0] and path[0] != "localhost")
    return Parts(domain, path, draw(st.none() | tags), draw(st.none() | digests))


@given(references())
def test_parse_recovers_the_generated_parts(parts: Parts) -> None:
    ref = ImageRef.parse(parts.text())
    registry = parts.domain or HUB
    path = "/".join(parts.path)
    if registry == HUB and len(parts.path) == 1:
        path = "library/" + path
    implicit = parts.tag is None and parts.digest is None
    assert ref == ImageRef(
        registry=registry,
        repository=path,
        tag="latest" if implicit else parts.tag,
        digest=parts.digest,
        tag_implicit=implicit,
    )


@given(references())
def test_canonical_and_familiar_forms_reparse(parts: Parts) -> None:
    ref = ImageRef.parse(parts.text())
    assert ImageRef.parse(ref.canonical) == ref
    familiar = ImageRef.parse(ref.familiar)
    assert (familiar.name, familiar.tag, familiar.digest) == (ref.name, ref.tag, ref.digest)
    pulled = ImageRef.parse(ref.pull_ref)
    assert (pulled.name, pulled.digest) == (ref.name, ref.digest)
    assert pulled.tag == (None if ref.digest else ref.tag)


@given(references(), st.data())
def test_uppercase_in_the_repository_is_rejected(parts: Parts, data: st.DataObject) -> None:
    last = parts.path[-1]
    at = data.draw(st.integers(0, len(last)))
    upper = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    bad = parts._replace(path=[*parts.path[:-1], last[:at] + upper + last[at:]])
    with pytest.raises(InvalidImageRef, match="must be lowercase"):
        ImageRef.parse(bad.text())


@given(references(), st.sampled_from(["-", ".", "_", "___", "..", "._", "-."]), st.booleans())
def test_bad_separators_are_rejected(parts: Parts, separator: str, leading: bool) -> None:
    last = parts.path[-1]
    bad = parts._replace(path=[*parts.path[:-1], separator + last if leading else last + separator])
    with pytest.raises(InvalidImageRef, match="is not valid: components"):
        ImageRef.parse(bad.text())


@given(references(), st.text("abc.-_", min_size=129, max_size=200))
def test_overlong_tags_are_rejected(parts: Parts, tag: str) -> None:
    with pytest.raises(InvalidImageRef, match="at most 128"):
        ImageRef.parse(parts._replace(tag="x" + tag[1:]).text())


@given(references(), st.sampled_from(["sha256", "sha384", "sha512"]), st.integers(1, 200))
def test_digests_of_the_wrong_length_are_rejected(parts: Parts, algorithm: str, n: int) -> None:
    assume(n != {"sha256": 64, "sha384": 96, "sha512": 128}[algorithm])
    bad = parts._replace(digest=f"{algorithm}:" + "a" * n)
    with pytest.raises(InvalidImageRef, match=f"{algorithm} digest needs"):
        ImageRef.parse(bad.text())


@given(st.text() | st.text("aZ09.:_-/@[]", max_size=40))
def test_any_text_either_parses_to_a_stable_value_or_is_rejected(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except InvalidImageRef as error:
        assert error.ref == text
    else:
        assert ImageRef.parse(ref.canonical) == ref
        assert ref.canonical.startswith(ref.name)


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("busybox", "busybox"),
        ("127.0.0.1:5000/dockyard/app:v1", "dockyard/app:v1"),
        (f"127.0.0.1:5000/dockyard/gw@sha256:{'ab' * 32}", "dockyard/gw@sha256:abababababab"),
        (f"postgres:15@sha256:{'cd' * 32}", "postgres:15@sha256:cdcdcdcdcdcd"),
    ],
)
def test_short_names_repository_tag_and_twelve_digest_hex(text: str, short: str) -> None:
    assert ImageRef.parse(text).short == short
