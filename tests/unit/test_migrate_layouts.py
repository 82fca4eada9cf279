"""The pure half of `pubkit migrate`: htpasswd lines, pypiserver paths, pypicloud keys, and the
legacy bcrypt hash a migrated user holds until the first sign-in."""

from __future__ import annotations

import pytest

from pubkit.errors import CatalogError
from pubkit.server.auth.passwords import (
    hash_password,
    is_stored_hash,
    legacy_bcrypt_hash,
    needs_upgrade,
    verify_password,
)
from pubkit.server.migrate.htpasswd import parse_htpasswd
from pubkit.server.migrate.layouts import (
    Candidate,
    Skip,
    etag_md5,
    pypicloud_entry,
    pypiserver_entry,
)

# Written by Apache's htpasswd 2.4 (-B -C 5, -m, -s, -d, -p, -5); alice's password is
# "alice-password-1".
ALICE = "$2y$05$xIUXa5v.Phwns6QPWrEgf.4oVaV2l7Cg2hHPH6El5wrBJM7CcnBWC"
HTPASSWD = f"""\
# team accounts
alice:{ALICE}

bob:$apr1$Tpnv8ZxY$j1cyAn98xtY05fvII3zSl0
carol:{{SHA}}EfatjsUqKYSrqv18O1FlA3hcIHI=
dave:h.fhtsuwWCcpQ
erin:plain-text-password
frank:$6$WiiPlzb5y7p7eQsA$1gt3Zd85XOi.jDfi4ylrUENtMeyjP3UmQIEzqooputJjpngPCEdh1ApAQ1ZQqZcIs2TA1wCeCeXmJGbOFNlL6.
no colon here
__token__:{ALICE}
grace:$2y$05$short
"""


def test_htpasswd_keeps_bcrypt_and_refuses_each_other_line_once() -> None:
    users, refused = parse_htpasswd(HTPASSWD)
    assert [(user.line, user.name, user.stored_hash) for user in users] == [
        (2, "alice", "bcrypt$" + ALICE)
    ]
    lines = {refusal.line: refusal.describe() for refusal in refused}
    assert sorted(lines) == [4, 5, 6, 7, 8, 9, 10, 11]
    assert "apr1 (MD5) hashes are too fast to guess" in lines[4]
    assert "`pubkit user add bob`" in lines[4]
    assert "{SHA} hashes are unsalted SHA-1" in lines[5]
    assert "DES crypt" in lines[6]
    assert "not a hash pubkit knows (a plaintext password?)" in lines[7]
    assert "SHA-crypt hashes are not supported" in lines[8]
    assert "not USER:HASH" in lines[9]
    assert "reserved for API tokens" in lines[10]
    assert "bcrypt hash is malformed" in lines[11]
    # A refusal never quotes the hash or the password it saw.
    text = "\n".join(lines.values())
    assert "plain-text-password" not in text and "Tpnv8ZxY" not in text


def test_htpasswd_user_twice_is_refused_on_both_lines() -> None:
    users, refused = parse_htpasswd(f"alice:{ALICE}\nbob:{ALICE}\nalice:{ALICE}\n")
    assert [user.name for user in users] == ["bob"]
    assert [(refusal.line, refusal.name) for refusal in refused] == [(1, "alice"), (3, "alice")]
    assert "first on line 1" in refused[1].reason


def test_migrated_bcrypt_hash_verifies_and_asks_for_an_upgrade() -> None:
    stored = legacy_bcrypt_hash(ALICE)
    assert is_stored_hash(stored) and needs_upgrade(stored)
    assert verify_password("alice-password-1", stored)
    assert not verify_password("alice-password-2", stored)
    scrypt = hash_password("alice-password-1")
    assert is_stored_hash(scrypt) and not needs_upgrade(scrypt)
    apr1 = "$apr1$Tpnv8ZxY$j1cyAn98xtY05fvII3zSl0"
    for pasted in ("alice-password-1", "bcrypt$nope", ALICE, apr1):
        assert not is_stored_hash(pasted)
    with pytest.raises(ValueError):
        legacy_bcrypt_hash("{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=")
    with pytest.raises(CatalogError, match="unreadable"):
        verify_password("x", "bcrypt$$2y$05$short")


def test_bcrypt_reads_72_bytes_as_apache_does() -> None:
    import bcrypt

    long = "p" * 72
    stored = legacy_bcrypt_hash(bcrypt.hashpw(long.encode(), bcrypt.gensalt(4)).decode())
    assert verify_password(long + "ignored-by-bcrypt", stored)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("alpha-1.0.tar.gz", Candidate("alpha-1.0.tar.gz", "alpha-1.0.tar.gz", size=3)),
        ("alpha/alpha-1.0-py3-none-any.whl",
         Candidate("alpha/alpha-1.0-py3-none-any.whl", "alpha-1.0-py3-none-any.whl", "alpha",
                   size=3)),
        ("a/b/c/Alpha_Two-2.0.tar.gz",
         Candidate("a/b/c/Alpha_Two-2.0.tar.gz", "Alpha_Two-2.0.tar.gz", None, size=3)),
        ("README.txt", Skip("README.txt", "not a distribution")),
        ("alpha/alpha-1.0.zip", Skip("alpha/alpha-1.0.zip", "pubkit serves only wheels (.whl)"
                                     " and .tar.gz sdists; it stays behind")),
        ("alpha/alpha-1.0-py2.7.egg", Skip("alpha/alpha-1.0-py2.7.egg", "pubkit serves only"
                                           " wheels (.whl) and .tar.gz sdists; it stays behind")),
        (".cache/alpha-1.0.tar.gz", Skip(".cache/alpha-1.0.tar.gz", "a hidden file, which"
                                         " pypiserver does not serve")),
    ],
)  # fmt: skip
def test_pypiserver_paths(path: str, expected: Candidate | Skip) -> None:
    assert pypiserver_entry(path, 3) == expected


def test_pypiserver_malformed_distribution_name_is_refused() -> None:
    entry = pypiserver_entry("alpha/alpha.whl")
    assert isinstance(entry, Skip) and entry.refused and "invalid wheel filename" in entry.reason


def test_pypicloud_keys_and_metadata() -> None:
    hashed = pypicloud_entry(
        "1a2b/alpha/alpha-1.0.tar.gz",
        {"name": "alpha", "version": "1.0", "summary": "s", "hash_sha256": "AB" * 32},
        10,
    )
    assert hashed == Candidate("1a2b/alpha/alpha-1.0.tar.gz", "alpha-1.0.tar.gz", "alpha", "1.0",
                               "ab" * 32, 10)  # fmt: skip
    assert isinstance(hashed, Candidate) and hashed.listing_mismatch() is None
    # Early pypicloud stored no metadata: the name comes from the key.
    bare = pypicloud_entry("alpha/alpha-1.0-py3-none-any.whl", {})
    assert isinstance(bare, Candidate) and bare.listed_name == "alpha"
    other = pypicloud_entry("ffff/beta/alpha-1.0.tar.gz", {"name": "beta", "version": "1.0"})
    assert isinstance(other, Candidate)
    assert other.listing_mismatch() == (
        "listed under 'beta', but it is 'alpha' by its filename and metadata: filed under alpha"
    )
    moved = pypicloud_entry("alpha/alpha-1.0.tar.gz", {"name": "Alpha", "version": "1.0.post1"})
    assert isinstance(moved, Candidate)
    assert "listed as version '1.0.post1'" in (moved.listing_mismatch() or "")
    assert pypicloud_entry("alpha/", {}) == Skip("alpha/", "a folder marker, not a file")
    assert pypicloud_entry("notes/todo.txt", {}) == Skip("notes/todo.txt", "not a distribution")


def test_an_etag_is_an_md5_only_for_a_single_part_object() -> None:
    assert etag_md5('"0CC175B9C0F1B6A831C399E269772661"') == "0cc175b9c0f1b6a831c399e269772661"
    assert etag_md5('"0cc175b9c0f1b6a831c399e269772661-3"') is None
    assert etag_md5(None) is None
    entry = pypicloud_entry("a/alpha-1.0.tar.gz", {}, 5, '"0cc175b9c0f1b6a831c399e269772661"')
    assert isinstance(entry, Candidate) and entry.md5 == "0cc175b9c0f1b6a831c399e269772661"
