"""The REST request pipeline: one handler for every route of :data:`rest.ROUTES`.

:func:`handle` routes, reads (size-limited), authenticates and permission-checks,
charges the rate limit, refuses a replayed withdrawal, parses the parameters and
runs the route's handler; any refusal is BitMEX's error shape and changes nothing,
and nothing raised inside a handler leaves as a stack trace (a 500 with BitMEX's
body).  :class:`Server` holds what every request needs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs
from aiohttp import web

from perpspec.engine.serve.conns import ConnectionGuard, client_of
from perpspec.engine.serve.errors import NOT_FOUND, ApiError
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.keys import (
    ApiKey,
    KeyStore,
    KeyStoreError,
    ReplayGuard,
    authenticate,
    expires_seconds,
    refuse_replay,
    require,
)
from perpspec.engine.serve.ratelimit import RateLimiter
from perpspec.engine.serve.rest import API, ROUTE_MAP, Context, ServerConfig
from perpspec.engine.serve.units import decode_json, encode_json

log = logging.getLogger("perpspec.serve")


@attrs.define
class Server:
    """What every request needs: the gateway, keys, replay guard, limits."""

    gateway: Gateway
    keys: KeyStore
    config: ServerConfig
    guard: ReplayGuard = attrs.field(factory=ReplayGuard)
    connections: set[Any] = attrs.field(factory=set)  # the open realtime connections
    key_limiter: RateLimiter = attrs.field(init=False)
    ip_limiter: RateLimiter = attrs.field(init=False)
    conns: ConnectionGuard = attrs.field(init=False)  # the open TCP connections (conns.py)

    def __attrs_post_init__(self) -> None:
        self.key_limiter = RateLimiter(self.config.rate_limit_per_minute)
        self.ip_limiter = RateLimiter(self.config.ip_rate_limit_per_minute)
        self.conns = ConnectionGuard(self.config.max_http_connections, self.config.max_http_connections_per_ip,
                                     self.config.http_idle_timeout_s)


SERVER: Final = web.AppKey("server", Server)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=encode_json(data), status=status, content_type="application/json", headers=headers)


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.body(), error.status, headers)


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON object or form fields; anything else is a 400 with BitMEX's shape."""
    if not raw.strip():
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=200)
        except (ValueError, UnicodeError):
            raise ApiError(400, "Malformed form body") from None
        return _merge_pairs(pairs)
    try:
        body = decode_json(raw)
    except (ValueError, UnicodeError, RecursionError):
        raise ApiError(400, "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The JSON body must be an object")
    return body


def _merge_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        out[name] = value
    return out


async def handle(request: web.Request) -> web.StreamResponse:
    """The one REST handler: route, read, authenticate, limit, parse, run."""
    server = request.app[SERVER]
    rate_headers: dict[str, str] = {}
    try:
        route = ROUTE_MAP.get((request.method, request.path.rstrip("/") if request.path != API else API))
        if route is None:
            known = any(path == request.path for _, path in ROUTE_MAP)
            raise ApiError(405 if known else 404, "Method Not Allowed" if known else NOT_FOUND)
        try:
            raw = await asyncio.wait_for(request.read(), server.config.body_timeout_s)
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, f"Request body larger than {server.config.max_body_bytes} bytes", "HTTPError") from None
        except TimeoutError:  # a body trickled in: the connection is not held (conns.py), nor reused
            response = error_response(ApiError(408, "Request body not received in time", "HTTPError"))
            response.force_close()
            return response
        gateway = server.gateway
        now_ms = gateway.now_ms()
        key: ApiKey | None = None
        if route.permission == "admin":
            token = request.headers.get("x-admin-token", "")
            if not server.config.admin_token or not _same(token, server.config.admin_token):
                raise ApiError(403, "Access Denied")
        elif route.permission or request.headers.get("api-key"):
            try:
                server.keys.refresh()
            except KeyStoreError as error:
                log.error("key store: %s", error)
                raise ApiError(503, "Service unavailable") from None
            try:
                key = authenticate(
                    server.keys, server.guard,
                    verb=request.method, target=request.raw_path, body=raw,
                    key_id=request.headers.get("api-key"), expires=request.headers.get("api-expires"),
                    signature=request.headers.get("api-signature"), now_s=now_ms // 1000,
                    replay_check=False,  # after the rate limit: a key over its limit must not fill the guard
                )
            except ApiError:
                # a refused signature costs its IP a request: guessing is rate-limited like everything else
                verdict = server.ip_limiter.take(f"ip:{client_of(request.remote)}", now_ms)
                if not verdict.allowed:
                    rate_headers = verdict.headers()
                    raise ApiError(429, f"Rate limit exceeded, retry in {verdict.retry_after_s} seconds.",
                                   "RateLimitError") from None
                raise
        limiter = server.key_limiter if key is not None else server.ip_limiter
        verdict = limiter.take(key.key_id if key is not None else f"ip:{client_of(request.remote)}", now_ms)
        rate_headers = verdict.headers()
        if not verdict.allowed:
            raise ApiError(429, f"Rate limit exceeded, retry in {verdict.retry_after_s} seconds.", "RateLimitError")
        if key is not None and route.permission:
            # after the charge: a request the key may not make still costs it one (BitMEX counts every request),
            # or a read-only key could send refused mutations without limit (session 14, redteam8)
            require(key, route.permission)
        if key is not None and route.permission == "withdraw":  # where money leaves: the same signed bytes twice are a
            # replay (400); every other route takes BitMEX's contract, expiry only (keys.py; redteam21_8)
            refuse_replay(server.guard, request.headers.get("api-signature", ""),
                          expires_seconds(request.headers.get("api-expires", "0")), now_ms // 1000, key.key_id)
        params: dict[str, Any] = dict(request.query)
        if request.method != "GET":
            params.update(parse_body(raw, request.headers.get("Content-Type", "application/json")))
        fmt = params.pop("_format", "json")
        if fmt != "json":
            raise ApiError(400, "Only _format=json is supported")
        data = route.handler(Context(gateway=gateway, key=key, params=params))
        return json_response(data, headers=rate_headers)
    except ApiError as error:
        return error_response(error, rate_headers)
    except Exception:  # never a stack trace to the client
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(ApiError(500, "Server Error"), rate_headers)


def _same(given: str, wanted: str) -> bool:
    # surrogatepass: a header of bytes that are not UTF-8 reaches here as lone surrogates; still a plain refusal
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), wanted.encode("utf-8", "surrogatepass"))


def add_routes(app: web.Application) -> None:
    """Mount the REST table (every verb on every path goes through :func:`handle`)."""
    app.router.add_route("*", API + "{tail:.*}", handle)
    app.router.add_route("*", API, handle)

