"""Attack review of ``perpspec serve`` authentication: signatures and tokens that are not ASCII text.

Found by the session-5 integrity review:

* an ``api-signature`` of 64 non-ASCII characters (``é`` × 64, or 64 bytes that are
  not UTF-8) reached ``hmac.compare_digest`` as text, which raises ``TypeError`` on
  non-ASCII strings: REST answered 500 ``Server Error`` (and the failed guess was
  not charged to the IP's rate limit, which only counts a 401), and a WebSocket
  ``authKeyExpires`` with it closed the connection with a logged traceback instead
  of answering 401;
* an ``x-admin-token`` header of bytes that are not UTF-8 (lone surrogates once
  decoded) made the token comparison raise ``UnicodeEncodeError``: a 500 instead of 403.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.keys import KeyStore, ReplayGuard, authenticate
from perpspec.engine.serve.pipeline import _same

NOW_S = 1_800_000_000


@pytest.mark.parametrize("signature", ["\u00e9" * 64, "\udcff" * 64, "\u0661" * 64])
def test_a_signature_of_non_ascii_text_is_a_401(tmp_path: Path, signature: str) -> None:
    store = KeyStore(str(tmp_path / "keys.json"))
    key = store.create(1, ["read", "trade"])
    with pytest.raises(ApiError) as refused:
        authenticate(
            store, ReplayGuard(), verb="GET", target="/api/v1/order", body=b"", key_id=key.key_id,
            expires=str(NOW_S + 10), signature=signature, now_s=NOW_S, replay_check=True,
        )
    assert (refused.value.status, str(refused.value)) == (401, "Signature not valid.")


@pytest.mark.parametrize("token", ["\udcff\udcfe", "\u00e9", ""])
def test_an_admin_token_that_is_not_ascii_is_just_wrong(token: str) -> None:
    assert _same(token, "the-real-token") is False


def test_the_right_admin_token_is_still_accepted() -> None:
    assert _same("the-real-token", "the-real-token") is True
