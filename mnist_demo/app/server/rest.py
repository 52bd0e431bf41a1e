"""A plain HTTP route for predictions beside Gradio's: `POST /api/predict` with one image, JSON back.

    curl --data-binary @digit.png -H "Content-Type: image/png" http://127.0.0.1:7860/api/predict
    curl -F image=@digit.png http://127.0.0.1:7860/api/predict?model=mine    # a saved checkpoint
    curl -u alice:s3cret ...                                                   # when started with --auth

Why it exists: each call of Gradio's own API (`/gradio_api/call/predict`) makes a new session, goes through
the queue and an event stream, and costs about 50 ms of server CPU; a 3 ms prediction does not need that.
This route reads the image, runs the same `Predictor` as the Draw tab in a small worker pool, and answers
in one response, so a 2-core server keeps answering scripts quickly while it trains.

Rules it keeps, like the rest of the app:
- `--auth` accounts apply here too, as HTTP Basic credentials (401 without them);
- the body is capped (`MAX_IMAGE_BYTES`) and read no further than the cap (413 beyond it), and must arrive
  within `BODY_SECONDS` (408 after that: a client sending a byte every 2 s no longer holds a request open);
- only saved checkpoints by valid name can be chosen (`?model=NAME`; default: the shipped model);
- work is bounded: `workers` predictions at once, at most `max_waiting` more waiting (503 beyond that);
  images over `preprocess.WORK_PIXELS` (sized from their header, ~0.1-0.7 s each to decode) take turns in one
  lane, so a burst of them leaves the other workers to everyone else;
- a request whose sender has gone by the time a worker is free is dropped, never computed; a sender that
  leaves mid-upload is one INFO line in the log;
- every refusal is JSON `{"error": "..."}` with a 4xx/5xx status, and changes nothing on the server.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import io
import logging
import time
from typing import Callable

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from PIL import Image, ImageDraw
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from mnist_demo.app.core.context import AppContext
from mnist_demo.checkpoints import DEFAULT_NAME
from mnist_demo.errors import CheckpointError, DemoError
from mnist_demo.predict import Predictor
from mnist_demo.preprocess import BLANK_MESSAGE, WORK_PIXELS, image_size

PATH = "/api/predict"
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # a 2000x2000 RGBA PNG of a drawing is well under 1 MB
BODY_SECONDS = 20.0  # a 100 kB drawing takes 3 s even at 256 kbit/s; 5 MB needs 2 Mbit/s
GONE = 499  # the status logged for a request dropped because its sender left (nginx's "client closed request")
IMAGE_TYPES = ("image/", "application/octet-stream")
log = logging.getLogger(__name__)
REALM = 'Basic realm="mnist-demo", charset="UTF-8"'


class Refused(Exception):
    """A request this route answers with `status` and a one-line `message`."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _accounts(pairs) -> Callable[[str, str], bool]:
    """A checker for one (user, password) pair or a list of them, comparing in constant time."""
    pairs = [pairs] if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], str) else pairs
    accounts = {str(user): str(password) for user, password in pairs}

    def check(user: str, password: str) -> bool:
        expected = accounts.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    return check


class PredictRoute:
    """The `/api/predict` endpoint for one app: its context, its accounts and its worker pool."""

    def __init__(self, ctx: AppContext, auth=None, workers: int = 2, max_waiting: int = 64,
                 max_bytes: int = MAX_IMAGE_BYTES, body_seconds: float = BODY_SECONDS):
        """`auth` as Gradio's launch takes it: None, (user, password), a list of those, or fn(user, password)."""
        self.ctx = ctx
        self.auth = auth if callable(auth) or auth is None else _accounts(auth)
        self.limiter = anyio.CapacityLimiter(workers)
        self.large = anyio.CapacityLimiter(1)  # images that must be reduced: one at a time, before a worker
        self.max_waiting = max_waiting
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds
        self.pending = 0  # requests admitted and not yet answered (running + waiting for a worker)
        self.dropped = 0  # admitted requests never computed because their sender had left

    def route(self) -> APIRoute:
        return APIRoute(PATH, self.endpoint, methods=["POST"], include_in_schema=False)

    async def endpoint(self, request: Request) -> JSONResponse:
        try:
            self.check_auth(request)
            name = request.query_params.get("model") or DEFAULT_NAME
            data = await self.read_within_time(request)
            if self.pending >= self.limiter.total_tokens + self.max_waiting:
                raise Refused(503, "busy: too many predictions waiting; try again in a moment",
                              {"Retry-After": "1"})
            self.pending += 1
            try:
                body = await self.run(request, name, data)
            finally:
                self.pending -= 1
        except Refused as err:
            return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)
        except ClientDisconnect:  # an ordinary event on a public link: one line, no traceback
            log.info("%s: the client left before sending the whole request", PATH)
            return Response(status_code=GONE)
        except Exception:  # noqa: BLE001 - a bug must not leak a traceback to strangers; it is logged here
            log.exception("%s failed", PATH)
            return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)
        if body is None:
            return Response(status_code=GONE)
        return JSONResponse(body)

    async def run(self, request: Request, name: str, data: bytes) -> dict | None:
        """The prediction, in a worker thread once one is free (large images first wait for their own lane);
        None, without computing anything, when the sender has left by then."""
        lane = self.large if self.is_large(data) else contextlib.nullcontext()
        async with lane, self.limiter:
            if await request.is_disconnected():
                self.dropped += 1
                log.info("%s: dropped a request whose sender left while it waited", PATH)
                return None
            return await anyio.to_thread.run_sync(self.predict, name, data)

    # ----------------------------------------------------------------- steps

    def check_auth(self, request: Request) -> None:
        """Nothing without --auth; otherwise HTTP Basic credentials matching one of the accounts."""
        if self.auth is None:
            return
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user, password = "", ""
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass
        if not (scheme.lower() == "basic" and self.auth(user, password)):
            raise Refused(401, "login required: send the app's USER:PASS as HTTP Basic credentials "
                          "(curl -u USER:PASS ...)", {"WWW-Authenticate": REALM})

    async def read_within_time(self, request: Request) -> bytes:
        """`read_image`, or 408 when the body takes longer than `body_seconds` to arrive."""
        try:
            with anyio.fail_after(self.body_seconds):
                return await self.read_image(request)
        except TimeoutError:
            raise Refused(408, f"the image took over {self.body_seconds:g} s to arrive; send it in one go",
                          {"Connection": "close"}) from None

    @staticmethod
    def is_large(data: bytes) -> bool:
        """More pixels than `WORK_PIXELS`, from the header alone (unreadable data is small: it fails fast)."""
        try:
            width, height = image_size(data)
        except DemoError:
            return False
        return width * height > WORK_PIXELS

    async def read_image(self, request: Request) -> bytes:
        """The image bytes: the raw body (image/png, image/jpeg...) or the form field `image`."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("multipart/form-data", "") and not kind.startswith(IMAGE_TYPES):
            raise Refused(415, f"unsupported content type {kind!r}: send the image file itself (image/png, "
                          "image/jpeg...) or a multipart form with the field 'image'")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._body_cap(kind):
            raise Refused(413, self._too_large(), {"Connection": "close"})
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._body_cap(kind):
                raise Refused(413, self._too_large(), {"Connection": "close"})
        if kind == "multipart/form-data":
            return await self._form_image(request, bytes(body))
        if not body:
            raise Refused(400, "no image: send one image file (PNG or JPEG) as the request body")
        return bytes(body)

    def predict(self, name: str, data: bytes) -> dict:
        """In a worker thread: the prediction for `data` with the model `name`, as the JSON reply."""
        predictor = self.predictor(name)
        start = time.perf_counter()
        try:
            prediction = predictor.predict(data)
        except DemoError as err:
            raise Refused(400, str(err)) from None
        finally:
            self.ctx.record_predict(1000 * (time.perf_counter() - start))
        reply = {"model": name, "blank": prediction.blank}
        if prediction.blank:
            return {**reply, "digit": None, "confidence": None, "probabilities": None, "message": BLANK_MESSAGE}
        return {**reply, "digit": prediction.digit, "confidence": round(prediction.confidence, 6),
                "probabilities": {d: round(p, 6) for d, p in prediction.probabilities.items()}}

    def predictor(self, name: str) -> Predictor:
        try:
            return self.ctx.library.predictor(name)
        except CheckpointError as err:
            status = 404 if "does not exist" in str(err) or "missing" in str(err) else 400
            raise Refused(status, f"model {name[:80]!r}: {err}") from None

    # ----------------------------------------------------------------- helpers

    def warm_up(self) -> None:
        """Load the shipped model and decode one PNG, so the first visitor does not wait for imports (~1 s)."""
        sheet = Image.new("LA", (64, 64), (0, 0))
        ImageDraw.Draw(sheet).line([(32, 8), (32, 56)], fill=(0, 255), width=6)
        buffer = io.BytesIO()
        sheet.save(buffer, "PNG")
        try:
            self.predict(DEFAULT_NAME, buffer.getvalue())
        except Refused:  # no usable shipped model: the Draw tab says so when asked
            pass

    def _body_cap(self, kind: str) -> int:
        return self.max_bytes + (64 * 1024 if kind == "multipart/form-data" else 0)  # room for form headers

    def _too_large(self) -> str:
        return f"the image is too large: at most {self.max_bytes / (1024 * 1024):g} MB"

    async def _form_image(self, request: Request, body: bytes) -> bytes:
        async def stream():
            yield body

        try:
            form = await MultiPartParser(request.headers, stream(), max_files=2, max_fields=10).parse()
        except MultiPartException as err:
            raise Refused(400, f"unreadable form: {err.message}") from None
        files = [v for v in form.getlist("image") if isinstance(v, UploadFile)]
        try:
            if len(files) != 1:
                raise Refused(400, "send exactly one file in the form field 'image'")
            return await files[0].read()
        finally:
            await form.close()
