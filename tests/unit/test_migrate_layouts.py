"""The pure half of `pubkit migrate`: htpasswd lines, pypiserver paths, pypicloud keys, and the
legacy bcrypt hash a migrated user holds until the first sign-in."""

from __future__ import annotations

import pytest

from pubkit.errors import CatalogError
from pubkit.server.auth import shacrypt
from pubkit.server.auth.passwords import (
    hash_password,
    is_stored_hash,
    legacy_hash,
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
# htpasswd -5; frank's password is "x".
FRANK = (
    "$6$WiiPlzb5y7p7eQsA$1gt3Zd85XOi.jDfi4ylrUENtMeyjP3UmQIEzqooputJjpngPCEdh1ApAQ1ZQqZcIs2TA1"
    "wCeCeXmJGbOFNlL6."
)
HTPASSWD = f"""\
# team accounts
alice:{ALICE}

bob:$apr1$Tpnv8ZxY$j1cyAn98xtY05fvII3zSl0
carol:{{SHA}}EfatjsUqKYSrqv18O1FlA3hcIHI=
dave:h.fhtsuwWCcpQ
erin:plain-text-password
frank:{FRANK}
no colon here
__token__:{ALICE}
grace:$2y$05$short
heidi:$6$rounds=2000000$abc${FRANK[-86:]}
"""


def test_htpasswd_keeps_bcrypt_and_sha_crypt_and_refuses_each_other_line_once() -> None:
    users, refused = parse_htpasswd(HTPASSWD)
    assert [(user.line, user.name, user.stored_hash) for user in users] == [
        (2, "alice", "bcrypt$" + ALICE), (8, "frank", "sha-crypt$" + FRANK)
    ]
    assert verify_password("x", users[1].stored_hash)
    lines = {refusal.line: refusal.describe() for refusal in refused}
    assert sorted(lines) == [4, 5, 6, 7, 9, 10, 11, 12]
    assert "apr1 (MD5) hashes are too fast to guess" in lines[4]
    assert "`pubkit user add bob`" in lines[4]
    assert "{SHA} hashes are unsalted SHA-1" in lines[5]
    assert "DES crypt" in lines[6]
    assert "not a hash pubkit knows (a plaintext password?)" in lines[7]
    assert "not USER:HASH" in lines[9]
    assert "reserved for API tokens" in lines[10]
    assert "bcrypt hash is malformed" in lines[11]
    assert "SHA-crypt hash is malformed or has more than 1000000 rounds" in lines[12]
    # A refusal never quotes the hash or the password it saw.
    text = "\n".join(lines.values())
    assert "plain-text-password" not in text and "Tpnv8ZxY" not in text


def test_htpasswd_user_twice_is_refused_on_both_lines() -> None:
    users, refused = parse_htpasswd(f"alice:{ALICE}\nbob:{ALICE}\nalice:{ALICE}\n")
    assert [user.name for user in users] == ["bob"]
    assert [(refusal.line, refusal.name) for refusal in refused] == [(1, "alice"), (3, "alice")]
    assert "first on line 1" in refused[1].reason


def test_migrated_bcrypt_hash_verifies_and_asks_for_an_upgrade() -> None:
    stored = legacy_hash(ALICE)
    assert is_stored_hash(stored) and needs_upgrade(stored)
    assert verify_password("alice-password-1", stored)
    assert not verify_password("alice-password-2", stored)
    scrypt = hash_password("alice-password-1")
    assert is_stored_hash(scrypt) and not needs_upgrade(scrypt)
    apr1 = "$apr1$Tpnv8ZxY$j1cyAn98xtY05fvII3zSl0"
    for pasted in ("alice-password-1", "bcrypt$nope", ALICE, apr1):
        assert not is_stored_hash(pasted)
    with pytest.raises(ValueError):
        legacy_hash("{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=")
    with pytest.raises(CatalogError, match="unreadable"):
        verify_password("x", "bcrypt$$2y$05$short")


def test_bcrypt_reads_72_bytes_as_apache_does() -> None:
    import bcrypt

    long = "p" * 72
    stored = legacy_hash(bcrypt.hashpw(long.encode(), bcrypt.gensalt(4)).decode())
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



# Ulrich Drepper's specification's examples, and Apache htpasswd 2.4's -2 and -5 -C 20000.
SHA_CRYPT = [
    ("Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6"
                     "IcA"),
    ("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4O"
                     "TLiBFdcbYEdFCoEOfaS35inz1"),
    ("henry-password-1", "$5$BKvgrQSh7B8bVUH0$bkxZteFqkKADdi9AmkyWzhmaZ62CfPXJ3dWeXfUr7.0"),
    ("ivy-password-1", "$6$rounds=20000$xdziLO/S3WL7NX9N$6eaHdTYrbqhXHUQ1xNZP2AhwPHiGHn1wY4jXvD4Th"
                       "cnki7cy0W1YAhb70YxVCc0R2gKPrWndrMfIuxPbCSIWQ1"),
]  # fmt: skip


@pytest.mark.parametrize(("password", "stored"), SHA_CRYPT)
def test_sha_crypt_verifies_as_glibc_does(password: str, stored: str) -> None:
    assert shacrypt.verify(password, stored)
    assert not shacrypt.verify(password + " ", stored)
    assert verify_password(password, legacy_hash(stored))


def test_sha_crypt_against_the_platform_crypt_on_random_inputs() -> None:
    import random
    import string
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = pytest.importorskip("crypt", reason="Python >= 3.13 has no crypt module")
    rng = random.Random(11)
    for variant in "56":
        for _ in range(20):
            password = "".join(rng.choices(string.printable[:94], k=rng.randint(0, 90)))
            salt = "".join(rng.choices(string.ascii_letters + "./", k=rng.randint(1, 16)))
            setting = f"${variant}$rounds={rng.choice([1000, 1500])}${salt}"
            assert shacrypt.verify(password, crypt.crypt(password, setting)), (password, setting)


def test_sha_crypt_refuses_what_it_cannot_verify() -> None:
    for text in ("$6$salt$short", "$7$salt$" + "a" * 86, "$6$rounds=1000001$salt$" + "a" * 86):
        assert shacrypt.parse(text) is None
        assert not is_stored_hash("sha-crypt$" + text)
    with pytest.raises(CatalogError, match="SHA-crypt password hash is unreadable"):
        verify_password("x", "sha-crypt$$6$salt$short")
