"""SCRAM-SHA-256 (asyncmqtt.scram): the RFC 7677 example byte for byte on both sides, the
checks each side makes of the other, SASLprep (RFC 4013's examples) and the arguments."""

from __future__ import annotations

import base64
import itertools

import pytest

from asyncmqtt import scram
from asyncmqtt.protocol.broker_config import AuthContinue, AuthFailure, AuthReply, AuthSuccess
from asyncmqtt.protocol.config import ClientConfig
from asyncmqtt.scram import ScramCredentials, ScramSha256Authenticator, ScramSha256Verifier

# RFC 7677, section 3: user "user", password "pencil".
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
NOT_AUTHORIZED = AuthFailure(0x87)


def rfc_client() -> ScramSha256Authenticator:
    return ScramSha256Authenticator("user", "pencil", nonce=lambda: CLIENT_NONCE)


def rfc_verifier() -> ScramSha256Verifier:
    credentials = ScramCredentials.from_password("pencil", salt=SALT, iterations=4096)
    return ScramSha256Verifier({"user": credentials}, nonce=lambda: SERVER_NONCE)


def exchange(
    client: ScramSha256Authenticator, verifier: ScramSha256Verifier
) -> tuple[AuthReply, AuthReply]:
    """Run one exchange; returns the server's two answers (the client checks the last one
    when it is a success)."""
    server = verifier(client.method)
    assert server is not None
    first = server.step(client.initial_data())
    assert isinstance(first, AuthContinue)
    last = server.step(client.challenge(first.data))
    if isinstance(last, AuthSuccess):
        client.complete(last.data)
    return first, last


# ---------------------------------------------------------------- the RFC's example


def test_the_client_side_reproduces_rfc_7677() -> None:
    client = rfc_client()
    assert client.method == "SCRAM-SHA-256"
    assert client.initial_data() == CLIENT_FIRST
    assert client.challenge(SERVER_FIRST) == CLIENT_FINAL
    client.complete(SERVER_FINAL)  # the RFC's server signature verifies


def test_the_server_side_reproduces_rfc_7677() -> None:
    server = rfc_verifier()("SCRAM-SHA-256")
    assert server is not None
    assert server.step(CLIENT_FIRST) == AuthContinue(SERVER_FIRST)
    assert server.step(CLIENT_FINAL) == AuthSuccess(SERVER_FINAL)


def test_credentials_hold_the_keys_not_the_password() -> None:
    credentials = ScramCredentials.from_password("pencil", salt=SALT)
    assert credentials.iterations == 4096
    assert len(credentials.stored_key) == len(credentials.server_key) == 32
    assert b"pencil" not in repr(credentials).encode()
    # A random salt by default: the same password gives other keys.
    assert ScramCredentials.from_password("pencil").salt != SALT


# ---------------------------------------------------------------- both sides together


def test_a_right_password_succeeds_with_random_nonces() -> None:
    verifier = ScramSha256Verifier({"alice": "secret"})
    client = ScramSha256Authenticator("alice", "secret")
    first, last = exchange(client, verifier)
    assert isinstance(last, AuthSuccess)
    again_first, again_last = exchange(client, verifier)  # a re-authentication
    assert isinstance(again_last, AuthSuccess)
    assert again_first.data != first.data  # a new nonce each time


def test_a_wrong_password_fails_with_not_authorized() -> None:
    verifier = ScramSha256Verifier({"alice": "secret"})
    _, last = exchange(ScramSha256Authenticator("alice", "wrong"), verifier)
    assert last == NOT_AUTHORIZED


def test_an_unknown_user_is_not_told_apart_from_a_wrong_password() -> None:
    verifier = ScramSha256Verifier({"alice": "secret"})
    first, last = exchange(ScramSha256Authenticator("mallory", "secret"), verifier)
    assert last == NOT_AUTHORIZED
    # Its server-first-message looks like a real one, with the same salt every time.
    assert isinstance(first, AuthContinue) and first.data is not None
    salt = first.data.split(b",")[1]
    again, _ = exchange(ScramSha256Authenticator("mallory", "other"), verifier)
    assert isinstance(again, AuthContinue) and again.data is not None
    assert again.data.split(b",")[1] == salt
    assert first.data.endswith(b",i=4096")


def test_a_credential_lookup_function_is_asked_per_user() -> None:
    stored = ScramCredentials.from_password("secret")
    asked: list[str] = []

    def lookup(name: str) -> ScramCredentials | None:
        asked.append(name)
        return stored if name == "bob" else None

    verifier = ScramSha256Verifier(lookup)
    assert isinstance(exchange(ScramSha256Authenticator("bob", "secret"), verifier)[1], AuthSuccess)
    assert exchange(ScramSha256Authenticator("eve", "secret"), verifier)[1] == NOT_AUTHORIZED
    assert asked == ["bob", "eve"]


def test_a_lookup_returning_something_else_is_a_type_error() -> None:
    verifier = ScramSha256Verifier(lambda name: "secret")  # type: ignore[arg-type,return-value]
    server = verifier("SCRAM-SHA-256")
    assert server is not None
    with pytest.raises(TypeError, match="ScramCredentials or None"):
        server.step(ScramSha256Authenticator("alice", "secret").initial_data())


def test_user_names_with_commas_and_equals_signs_are_escaped() -> None:
    verifier = ScramSha256Verifier({"a,b=c": "secret"})
    client = ScramSha256Authenticator("a,b=c", "secret", nonce=lambda: "n0nce")
    assert client.initial_data() == b"n,,n=a=2Cb=3Dc,r=n0nce"
    client = ScramSha256Authenticator("a,b=c", "secret")
    assert isinstance(exchange(client, verifier)[1], AuthSuccess)


def test_the_salted_password_is_derived_once_per_salt_and_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    derive = scram._salted_password

    def counting(password: str, salt: bytes, iterations: int) -> bytes:
        calls.append(iterations)
        return derive(password, salt, iterations)

    verifier = ScramSha256Verifier({"alice": "secret"})
    other = ScramSha256Verifier(
        {"alice": ScramCredentials.from_password("secret", iterations=5000)}
    )
    monkeypatch.setattr(scram, "_salted_password", counting)
    client = ScramSha256Authenticator("alice", "secret")
    for _ in range(3):
        assert isinstance(exchange(client, verifier)[1], AuthSuccess)
    assert calls == [4096]
    # Another salt (the broker's credentials changed) is derived anew.
    assert isinstance(exchange(client, other)[1], AuthSuccess)
    assert calls == [4096, 5000]


def test_sasl_prepared_passwords_match() -> None:
    # U+2168 ROMAN NUMERAL NINE normalizes to "IX"; U+00AD SOFT HYPHEN is mapped to nothing.
    verifier = ScramSha256Verifier({"user": "IX"})
    assert isinstance(
        exchange(ScramSha256Authenticator("user", "\u2168"), verifier)[1], AuthSuccess
    )
    assert isinstance(
        exchange(ScramSha256Authenticator("user", "I\u00adX"), verifier)[1], AuthSuccess
    )


# ---------------------------------------------------------------- the client checks the broker


@pytest.mark.parametrize(
    ("server_first", "text"),
    [
        (None, "no server-first-message"),
        (b"\xff\xfe", "not UTF-8"),
        (b"m=ext,r=x,s=y,i=1", "extension"),
        (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "'r='"),
        (b"r=rOprNGfwEbeRWgbNEkqO", "'s='"),
        (b"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"),
        (b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"),
        (b"r=rOprNGfwEbeRWgbNEkqO\x7f,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "printable"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=!!!,i=4096", "base64"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096", "empty salt"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=lots", "not a number"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=\xd9\xa4", "not a number"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "4095 iterations"),
        (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001", "1000001"),
    ],
)
def test_a_bad_server_first_message_is_refused(server_first: bytes | None, text: str) -> None:
    client = rfc_client()
    client.initial_data()
    with pytest.raises(ValueError) as caught:
        client.challenge(server_first)
    assert text in str(caught.value)


def test_the_accepted_iteration_counts_can_be_changed() -> None:
    client = ScramSha256Authenticator(
        "user", "pencil", nonce=lambda: CLIENT_NONCE, minimum_iterations=4097
    )
    client.initial_data()
    with pytest.raises(ValueError, match="4097 to 1000000"):
        client.challenge(SERVER_FIRST)
    low = ScramSha256Authenticator("user", "pencil", minimum_iterations=1, maximum_iterations=10)
    verifier = ScramSha256Verifier({"user": ScramCredentials.from_password("pencil", iterations=1)})
    assert isinstance(exchange(low, verifier)[1], AuthSuccess)


@pytest.mark.parametrize(
    ("server_final", "text"),
    [
        (None, "no server-final-message"),
        (b"e=other-error", "'other-error'"),
        (b"x=1", "'v='"),
        (b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "does not verify"),
        (b"v=***", "base64"),
    ],
)
def test_a_bad_server_final_message_is_refused(server_final: bytes | None, text: str) -> None:
    client = rfc_client()
    client.initial_data()
    client.challenge(SERVER_FIRST)
    with pytest.raises(ValueError, match=text):
        client.complete(server_final)


def test_a_broker_that_skips_the_exchange_is_refused() -> None:
    client = rfc_client()
    client.initial_data()
    with pytest.raises(ValueError, match="before the exchange was finished"):
        client.complete(SERVER_FINAL)  # accepted at once: it proved nothing


def test_a_second_challenge_is_refused() -> None:
    client = rfc_client()
    client.initial_data()
    client.challenge(SERVER_FIRST)
    with pytest.raises(ValueError, match="none was due"):
        client.challenge(SERVER_FIRST)
    with pytest.raises(ValueError, match="none was due"):
        ScramSha256Authenticator("user", "pencil").challenge(SERVER_FIRST)  # before any start


def test_a_new_exchange_forgets_the_previous_one() -> None:
    nonces = iter(["first", "second"])
    client = ScramSha256Authenticator("user", "pencil", nonce=lambda: next(nonces))
    assert client.initial_data() == b"n,,n=user,r=first"
    assert client.initial_data() == b"n,,n=user,r=second"  # (the first was cut short)
    with pytest.raises(ValueError, match="does not extend"):
        client.challenge(b"r=firstXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    # After a completed exchange, another starts from the beginning too.
    client = rfc_client()
    client.initial_data()
    client.challenge(SERVER_FIRST)
    client.complete(SERVER_FINAL)
    with pytest.raises(ValueError, match="before the exchange was finished"):
        client.complete(SERVER_FINAL)
    assert client.initial_data() == CLIENT_FIRST
    assert client.challenge(SERVER_FIRST) == CLIENT_FINAL


def test_an_injected_nonce_must_be_valid() -> None:
    client = ScramSha256Authenticator("user", "pencil", nonce=lambda: "a,b")
    with pytest.raises(ValueError, match="printable ASCII without ','"):
        client.initial_data()
    client = ScramSha256Authenticator("user", "pencil", nonce=lambda: "")
    with pytest.raises(ValueError, match="non-empty str"):
        client.initial_data()


# ---------------------------------------------------------------- the server checks the client


def server_answers(*messages: bytes | None) -> list[AuthReply]:
    server = rfc_verifier()("SCRAM-SHA-256")
    assert server is not None
    return [server.step(message) for message in messages]


@pytest.mark.parametrize(
    "client_first",
    [
        None,
        b"\xff",
        b"n=user,r=x",  # no GS2 header
        b"p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO",  # channel binding
        b"n,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO",  # someone else's authorization
        b"n,,n=us=er,r=rOprNGfwEbeRWgbNEkqO",  # a bad escape
        b"n,,r=rOprNGfwEbeRWgbNEkqO",  # no user
        b"n,,n=user,r=",
        b"n,,n=\xe2\x80\xa8user,r=x",  # U+2028: SASLprep prohibits it
    ],
)
def test_a_bad_client_first_message_fails(client_first: bytes | None) -> None:
    assert server_answers(client_first, CLIENT_FINAL)[0] == NOT_AUTHORIZED


def test_channel_binding_flag_y_and_the_users_own_authorization_are_accepted() -> None:
    [first, final] = server_answers(b"y,a=user,n=user,r=" + CLIENT_NONCE.encode(), None)
    assert isinstance(first, AuthContinue)
    assert final == NOT_AUTHORIZED  # (no client-final-message)


@pytest.mark.parametrize(
    "client_final",
    [
        CLIENT_FINAL.replace(b"p=dHzb", b"p=eHzb"),  # a wrong proof
        CLIENT_FINAL.replace(b"c=biws", b"c=eSws"),  # the GS2 header changed on the way
        CLIENT_FINAL.replace(b"hNlF$k0", b"hNlF$k1"),  # another nonce
        CLIENT_FINAL.split(b",p=")[0],  # no proof
        CLIENT_FINAL.split(b",p=")[0] + b",p=AAAA",  # a proof of the wrong size
        b"r=x,c=biws,p=AAAA",
    ],
)
def test_a_bad_client_final_message_fails(client_final: bytes) -> None:
    assert server_answers(CLIENT_FIRST, client_final)[1] == NOT_AUTHORIZED


def test_a_third_message_fails_and_other_methods_are_not_served() -> None:
    assert server_answers(CLIENT_FIRST, CLIENT_FINAL, CLIENT_FINAL)[2] == NOT_AUTHORIZED
    assert rfc_verifier()("SCRAM-SHA-1") is None


# ---------------------------------------------------------------- SASLprep (RFC 4013, section 3)


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        ("I\u00adX", "IX"),  # soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # case preserved
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # a non-ASCII space becomes a space
        ("\u0627\u0628", "\u0627\u0628"),  # right to left throughout
    ],
)
def test_saslprep_examples(given: str, prepared: str) -> None:
    assert scram._saslprep(given) == prepared


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("\u0007", "prohibits"),  # a control character
        ("\ue000", "prohibits"),  # private use
        ("\u0627\u0031", "directions"),  # right to left, ending with a digit
        ("\u0627a\u0628", "directions"),  # mixed
    ],
)
def test_saslprep_refusals(given: str, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        scram._saslprep(given)


def test_stored_strings_refuse_unassigned_code_points() -> None:
    unassigned = "\u0221"  # unassigned in Unicode 3.2, the version stringprep uses
    assert scram._saslprep(unassigned) == unassigned
    with pytest.raises(ValueError, match="unassigned"):
        scram._saslprep(unassigned, stored=True)
    with pytest.raises(ValueError, match="unassigned"):
        ScramCredentials.from_password(unassigned)


# ---------------------------------------------------------------- arguments


def test_client_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="username must be a str"):
        ScramSha256Authenticator(b"user", "pencil")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="password must not be empty"):
        ScramSha256Authenticator("user", "\u00ad")
    with pytest.raises(TypeError, match="nonce must be callable"):
        ScramSha256Authenticator("user", "pencil", nonce="fixed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maximum_iterations"):
        ScramSha256Authenticator("user", "pencil", minimum_iterations=10, maximum_iterations=9)
    client = ScramSha256Authenticator("u\u00adser", "pencil")
    assert client.username == "user"
    assert "pencil" not in repr(client) and "user" in repr(client)


def test_credentials_and_verifier_arguments_are_checked() -> None:
    key = bytes(32)
    with pytest.raises(TypeError, match="salt must be bytes"):
        ScramCredentials("salt", 4096, key, key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="salt must not be empty"):
        ScramCredentials(b"", 4096, key, key)
    with pytest.raises(ValueError, match="iterations"):
        ScramCredentials(b"s", 0, key, key)
    with pytest.raises(ValueError, match="32 bytes"):
        ScramCredentials(b"s", 1, key[:31], key)
    with pytest.raises(TypeError, match="salt must be non-empty bytes"):
        ScramCredentials.from_password("pencil", salt=b"")
    with pytest.raises(TypeError, match="users must be a mapping"):
        ScramSha256Verifier(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nonce must be callable"):
        ScramSha256Verifier({}, nonce=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user name must not be empty"):
        ScramSha256Verifier({"": "secret"})


def test_the_verifier_validates_its_own_nonces() -> None:
    verifier = ScramSha256Verifier({"user": "pencil"}, nonce=lambda: "bad,nonce")
    server = verifier("SCRAM-SHA-256")
    assert server is not None
    assert server.step(CLIENT_FIRST) == NOT_AUTHORIZED


def test_the_authenticator_fits_the_engine() -> None:
    config = ClientConfig(authenticator=rfc_client())
    assert config.authenticator is not None
    assert config.authenticator.method == "SCRAM-SHA-256"


def test_nonces_are_fresh_and_printable() -> None:
    client = ScramSha256Authenticator("user", "pencil")
    nonces = {client.initial_data().split(b"r=")[1] for _ in itertools.repeat(None, 50)}
    assert len(nonces) == 50
    assert all(len(n) >= 24 and b"," not in n for n in nonces)
