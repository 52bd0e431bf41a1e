"""The /api/predict route in-process (no server): its bounded work and its answers, over ASGI."""

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mnist_demo.app.server.rest import PATH, PredictRoute
from tests.support.digits import one_png

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"


def post_all(route: PredictRoute, before_last) -> list[httpx.Response]:
    """Two requests that stay in flight, then `before_last()`, then a third; all answers, in order."""

    async def main():
        app = FastAPI(routes=[route.route()])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
            def send():
                return client.post(PATH, content=one_png(), headers={"Content-Type": "image/png"})

            first = [asyncio.create_task(send()) for _ in range(2)]
            for _ in range(200):  # until both are admitted: one running, one waiting for the worker
                if route.pending == 2:
                    break
                await asyncio.sleep(0.01)
            third = await send()
            before_last()
            return [*(await asyncio.gather(*first)), third]

    return asyncio.run(main())


def test_a_full_line_answers_busy_and_the_admitted_requests_still_finish(route):
    gate = threading.Event()
    real = route.predict

    def held(name, data):
        gate.wait(30)
        return real(name, data)

    route.predict = held
    first, second, third = post_all(route, gate.set)
    assert third.status_code == 503 and third.headers["retry-after"] == "1"
    assert "busy" in third.json()["error"]
    assert [first.json()["digit"], second.json()["digit"]] == [1, 1]
    assert route.pending == 0  # nothing left counted once everything is answered


def test_an_unexpected_fault_is_a_json_500_without_details(route):
    def broken(name, data):
        raise RuntimeError("secret internal detail /srv/path")

    route.predict = broken

    async def main():
        app = FastAPI(routes=[route.route()])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
            return await client.post(PATH, content=one_png(), headers={"Content-Type": "image/png"})

    reply = asyncio.run(main())
    assert reply.status_code == 500 and reply.json() == {"error": "internal error; the server log has the details"}
    assert route.pending == 0


@pytest.mark.parametrize("auth", [("alice", "s3cret"), [("bob", "x"), ("alice", "s3cret")],
                                  lambda user, password: (user, password) == ("alice", "s3cret")],
                         ids=["one pair", "a list", "a function"])
def test_every_form_of_gradio_auth_protects_the_route(route, auth):
    route = PredictRoute(route.ctx, auth)

    async def main():
        app = FastAPI(routes=[route.route()])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
            return [await client.post(PATH, content=one_png(), headers={"Content-Type": "image/png"}, auth=creds)
                    for creds in (None, ("alice", "wrong"), ("mallory", "s3cret"), ("alice", "s3cret"))]

    *refused, accepted = asyncio.run(main())
    assert [r.status_code for r in refused] == [401, 401, 401] and accepted.json()["digit"] == 1
