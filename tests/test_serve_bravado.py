"""The bravado-based ``bitmex`` 0.2.2 client on ``perpspec serve``: Swagger spec, form bodies, signatures.

``bitmex`` hardcodes bitmex.com, so its pieces are used directly, as its own factory does (reference
§9); it is in the ``test`` extra (and alone in ``bitmex-rest``); without it this module is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("bravado")
authenticator = pytest.importorskip("BitMEXAPIKeyAuthenticator")

from tests.serve_helpers import start_server  # noqa: E402


def test_bravado_client_trades_through_the_generated_swagger_spec(tmp_path: Path) -> None:
    from bravado.client import SwaggerClient
    from bravado.requests_client import RequestsClient

    running, keys = start_server(tmp_path)
    try:
        key = keys["one"]
        http = RequestsClient()
        http.authenticator = authenticator.APIKeyAuthenticator("127.0.0.1", key.key_id, key.secret)
        client: Any = SwaggerClient.from_url(
            running.url + "/api/explorer/swagger.json", http_client=http,
            config={"use_models": False, "validate_responses": False, "also_return_response": True},
        )
        active, _ = client.Instrument.Instrument_getActive().result()
        margin, _ = client.User.User_getMargin().result()
        order, response = client.Order.Order_new(symbol="XBTUSD", side="Buy", orderQty=100, price=49000.5,
                                                 ordType="Limit").result()
        cancelled, _ = client.Order.Order_cancel(orderID=order["orderID"]).result()
    finally:
        running.stop()
    assert "XBTUSD" in [row["symbol"] for row in active]
    assert (margin["currency"], margin["walletBalance"]) == ("XBt", 10 * 100_000_000)
    assert (order["ordStatus"], order["price"], response.status_code) == ("New", 49000.5, 200)
    assert cancelled[0]["ordStatus"] == "Canceled"
