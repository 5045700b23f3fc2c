"""The control API: HTTP JSON shaped like Toxiproxy's, so its clients work unchanged.

Routes, bodies and status codes follow Toxiproxy 2.x (201 on proxy create, 204 on
delete and reset, 404/409 with {"error", "status"}). Proxy updates accept POST
(Toxiproxy) and PATCH.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from .apiguard import GuardPolicy, log_refusal, refusal
from .registry import Registry
from .spec import ChaosError

VERSION = "2.12.0-chaos"  # Toxiproxy API level we follow, marked as this implementation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise ChaosError("request body is not valid JSON") from None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ChaosError as e:
        return _json({"error": str(e), "status": e.status}, e.status)


def _guard(policy: GuardPolicy) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        why = refusal(request.method, request.headers, policy)
        if why is None:
            return await handler(request)
        log_refusal(policy, request.method, request.path, request.remote or "?", why)
        return _json({"error": why.reason, "status": why.status}, why.status)

    return guard


def make_app(reg: Registry, policy: GuardPolicy | None = None) -> web.Application:
    """The routes behind the guard (chaos/apiguard.py): no web page may drive them."""
    routes = web.RouteTableDef()

    @routes.get("/version")
    async def version(_: web.Request) -> web.Response:
        return _json({"version": VERSION})

    @routes.post("/reset")
    async def reset(_: web.Request) -> web.Response:
        await reg.reset()
        return web.Response(status=204)

    @routes.get("/proxies")
    async def list_proxies(_: web.Request) -> web.Response:
        return _json(reg.snapshot())

    @routes.post("/proxies")
    async def create_proxy(request: web.Request) -> web.Response:
        proxy = await reg.create(await _body(request))
        return _json(proxy.to_json(), 201)

    @routes.post("/populate")
    async def populate(request: web.Request) -> web.Response:
        proxies = await reg.populate(await _body(request))
        return _json({"proxies": [p.to_json() for p in proxies]}, 201)

    @routes.get("/proxies/{proxy}")
    async def get_proxy(request: web.Request) -> web.Response:
        return _json(reg.get(request.match_info["proxy"]).to_json())

    @routes.post("/proxies/{proxy}")
    @routes.patch("/proxies/{proxy}")
    async def update_proxy(request: web.Request) -> web.Response:
        proxy = await reg.update(request.match_info["proxy"], await _body(request))
        return _json(proxy.to_json())

    @routes.delete("/proxies/{proxy}")
    async def delete_proxy(request: web.Request) -> web.Response:
        await reg.delete(request.match_info["proxy"])
        return web.Response(status=204)

    @routes.get("/proxies/{proxy}/toxics")
    async def list_toxics(request: web.Request) -> web.Response:
        return _json([t.to_json() for t in reg.get(request.match_info["proxy"]).toxics])

    @routes.post("/proxies/{proxy}/toxics")
    async def create_toxic(request: web.Request) -> web.Response:
        proxy = reg.get(request.match_info["proxy"])
        return _json(proxy.add_toxic(await _body(request)).to_json())

    @routes.get("/proxies/{proxy}/toxics/{toxic}")
    async def get_toxic(request: web.Request) -> web.Response:
        proxy = reg.get(request.match_info["proxy"])
        return _json(proxy.toxics[proxy.find_toxic(request.match_info["toxic"])].to_json())

    @routes.post("/proxies/{proxy}/toxics/{toxic}")
    @routes.patch("/proxies/{proxy}/toxics/{toxic}")
    async def update_toxic(request: web.Request) -> web.Response:
        proxy = reg.get(request.match_info["proxy"])
        return _json(
            proxy.update_toxic(request.match_info["toxic"], await _body(request)).to_json()
        )

    @routes.delete("/proxies/{proxy}/toxics/{toxic}")
    async def delete_toxic(request: web.Request) -> web.Response:
        reg.get(request.match_info["proxy"]).remove_toxic(request.match_info["toxic"])
        return web.Response(status=204)

    app = web.Application(middlewares=[_guard(policy or GuardPolicy.from_env()), _errors])
    app.add_routes(routes)
    return app
