"""Masking: secrets and their encodings vanish from text, data, logs and exception messages."""

from __future__ import annotations

import base64
import io
import json
import logging
import shlex
import threading
import urllib.parse
from collections import namedtuple

from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.errors import RemoteError
from engine.core.secrets import (
    MIN_SECRET_LENGTH,
    SECRET_PLACEHOLDER,
    Masker,
    MaskingFilter,
    masked_exception_text,
)

SECRET = "P@ss w/rd\"'&+ü"


def test_plain_occurrences_are_masked_everywhere_in_text() -> None:
    masker = Masker([SECRET])
    text = f"login {SECRET} then {SECRET}!"
    assert masker.mask_text(text) == f"login {SECRET_PLACEHOLDER} then {SECRET_PLACEHOLDER}!"


def test_encoded_forms_are_masked() -> None:
    masker = Masker([SECRET])
    raw = SECRET.encode()
    carriers = {
        "json": json.dumps({"password": SECRET}),
        "json-ascii": json.dumps({"password": SECRET}, ensure_ascii=True),
        "json-utf8": json.dumps({"password": SECRET}, ensure_ascii=False),
        "url": "mysql://ops:" + urllib.parse.quote(SECRET, safe="") + "@db/crm",
        "url-plus": "a=1&pw=" + urllib.parse.quote_plus(SECRET),
        "base64": "Authorization: Basic " + base64.b64encode(raw).decode(),
        "base64-url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "sql": "SET PASSWORD = '" + SECRET.replace("'", "''") + "'",
        "shell": "mysql -p" + shlex.quote(SECRET),
        "repr": repr({"password": SECRET}),
        "html": "<td>" + SECRET.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#x27;") + "</td>",
    }
    for name, carrier in carriers.items():
        masked = masker.mask_text(carrier)
        assert SECRET_PLACEHOLDER in masked, name
        for fragment in ("P@ss", "w/rd"):
            assert fragment not in masked, (name, masked)
        assert base64.b64encode(raw).decode()[:12] not in masked, name


def test_nested_structures_are_copied_with_secrets_masked() -> None:
    masker = Masker(["tiger-secret"])
    Point = namedtuple("Point", "host password")
    data = {
        "hosts": [{"name": "web1", "password": "tiger-secret"}, ("x", "pre-tiger-secret-post")],
        "tiger-secret": {1, 2},
        "point": Point("web1", "tiger-secret"),
        "raw": b"blob tiger-secret",
        "count": 3,
        "none": None,
        "flags": frozenset({"tiger-secret"}),
    }
    masked = masker.mask(data)
    assert masked == {
        "hosts": [{"name": "web1", "password": SECRET_PLACEHOLDER}, ("x", f"pre-{SECRET_PLACEHOLDER}-post")],
        SECRET_PLACEHOLDER: {1, 2},
        "point": Point("web1", SECRET_PLACEHOLDER),
        "raw": b"blob " + SECRET_PLACEHOLDER.encode(),
        "count": 3,
        "none": None,
        "flags": frozenset({SECRET_PLACEHOLDER}),
    }
    assert type(masked["point"]) is Point
    assert data["hosts"][0]["password"] == "tiger-secret", "the original must not change"


def test_self_referencing_structure_terminates() -> None:
    masker = Masker(["tiger-secret"])
    loop: dict = {"pw": "tiger-secret"}
    loop["self"] = loop
    masked = masker.mask(loop)
    assert masked["pw"] == SECRET_PLACEHOLDER
    assert masked["self"] is masked


def test_short_values_are_masked_only_as_whole_strings() -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    masker = Masker([short, ""])
    assert masker.mask_text(short) == SECRET_PLACEHOLDER
    assert masker.mask({"pin": short, "text": f"max{short}"}) == {
        "pin": SECRET_PLACEHOLDER,
        "text": f"max{short}",
    }
    assert masker.mask_text("") == ""


def test_longest_secret_wins_when_one_contains_another() -> None:
    masker = Masker(["abcd", "abcdefgh"])
    assert masker.mask_text("--abcdefgh--") == f"--{SECRET_PLACEHOLDER}--"


def test_multi_line_secret_lines_are_masked_on_their_own() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    masker = Masker([key])
    log_line = "remote said: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC is invalid"
    assert masker.mask_text(log_line) == f"remote said: {SECRET_PLACEHOLDER} is invalid"


def test_secrets_added_later_are_masked_and_duplicates_are_free() -> None:
    masker = Masker()
    assert masker.mask_text("tiger-secret") == "tiger-secret"
    masker.add("tiger-secret")
    size = len(masker)
    masker.add("tiger-secret")
    assert len(masker) == size
    assert masker.mask_text("tiger-secret") == SECRET_PLACEHOLDER


@given(
    secret=st.text(alphabet=st.characters(blacklist_characters="*"), min_size=MIN_SECRET_LENGTH, max_size=20),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
@example(secret="000\ud800", before="", after="")  # no UTF-8 form: base64/URL forms are skipped
def test_no_secret_survives_masking(secret: str, before: str, after: str) -> None:
    masked = Masker([secret]).mask_text(before + secret + after)
    assert secret not in masked
    assert SECRET_PLACEHOLDER in masked


def test_concurrent_add_and_mask_never_misses_an_added_secret() -> None:
    masker = Masker()
    errors: list[str] = []

    def worker(number: int) -> None:
        for round_ in range(25):
            secret = f"secret-{number}-{round_}-value"
            masker.add(secret)
            if masker.mask_text(f"x{secret}x") != f"x{SECRET_PLACEHOLDER}x":
                errors.append(secret)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert masker.mask_text("secret-3-24-value") == SECRET_PLACEHOLDER


def _logger_with_filter(masker: Masker) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter(masker))
    logger = logging.getLogger(f"cutover.test.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    return logger, stream


def test_logging_filter_masks_arguments_and_exception_text() -> None:
    masker = Masker(["tiger-secret"])
    logger, stream = _logger_with_filter(masker)
    child = logger.getChild("conn")  # propagated records pass the handler's filter too
    child.warning("connecting with %s to %s", "tiger-secret", "db1")
    try:
        raise ValueError("login failed for password tiger-secret")
    except ValueError:
        logger.exception("task failed")
    logger.error("bad args %s %s", "tiger-secret")
    out = stream.getvalue()
    assert "tiger-secret" not in out
    assert f"connecting with {SECRET_PLACEHOLDER} to db1" in out
    assert f"ValueError: login failed for password {SECRET_PLACEHOLDER}" in out
    assert "bad args" in out


def test_masked_exception_text_covers_the_cause_chain() -> None:
    masker = Masker(["tiger-secret"])
    try:
        try:
            raise OSError("connect('tiger-secret') refused")
        except OSError as inner:
            raise RemoteError("login as sa/tiger-secret failed", host="db1") from inner
    except RemoteError as err:
        short = masked_exception_text(err, masker)
        full = masked_exception_text(err, masker, with_traceback=True)
    assert "tiger-secret" not in short and "tiger-secret" not in full
    assert f"RemoteError: db1: login as sa/{SECRET_PLACEHOLDER} failed" in short
    assert f"caused by: OSError: connect('{SECRET_PLACEHOLDER}') refused" in short
    assert "Traceback" in full
