"""The explorer's routes: HTML pages and their JSON twins, over one directory of epoch files.

```
GET /                               network: epochs table and device map      GET /api/network, /api/map
GET /devices/{device}?epoch=        a device: why (not) rewarded, verdicts    GET /api/devices/{device}
GET /owners/{address}               an owner: cumulative, how to claim        GET /api/owners/{address}
GET /epochs/{epoch}                 manifest, files by sha256, audit          GET /api/epochs/{epoch}, …/audit
GET /epochs/{epoch}/files/{path}    one file the manifest lists (download)
GET /search?q=                      one match: redirect; several: list        GET /api/search?q=
GET /static/{name}                  the package's CSS and JS
```

Every parameter is untrusted: epochs are integers in [0, 2**63), addresses are checked
(EIP-55), queries and paths are length-capped, a file is served only if the manifest names
it. Failures are RFC 9457 problem+json (`opendepin.http.problems`), 404 or 422, never a 500.

`explorer_router(data_dir)` returns an `APIRouter` to include in any FastAPI app that installs
the problem handlers (the ingest app of `depin oracle serve` does); `explorer_app(data_dir)` is
a complete app (what `depin explorer` serves).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path as FsPath
from typing import Annotated, Final

from fastapi import APIRouter, FastAPI, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendepin.explorer import devices, views
from opendepin.explorer.models import (
    AuditOut,
    DeviceOut,
    EpochOut,
    MapOut,
    NetworkOut,
    OwnerOut,
    SearchOut,
)
from opendepin.explorer.onchain import OnChain
from opendepin.explorer.pages import Pages
from opendepin.explorer.source import MAX_EPOCH, Network
from opendepin.http.problems import (
    Problem,
    ProblemError,
    ProblemType,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
    openapi_responses,
)

EXPLORER_NOT_FOUND = ProblemType("not-found", "Not published here", 404, "explorer")
EXPLORER_BAD_INPUT = ProblemType("bad-input", "Malformed parameter", 422, "explorer")
MAX_QUERY_CHARS: Final = 200
MAX_ADDRESS_CHARS: Final = 100
MAX_FILE_PATH_CHARS: Final = 512
STATIC_FILES: Final = {"explorer.css": "text/css; charset=utf-8", "explorer.js": "text/javascript; charset=utf-8"}

EpochPath = Annotated[int, Path(ge=0, le=MAX_EPOCH, description="Epoch number.")]
EpochQuery = Annotated[int | None, Query(ge=0, le=MAX_EPOCH, description="Epoch (default: the latest).")]
AddressPath = Annotated[str, Path(max_length=MAX_ADDRESS_CHARS, description="0x address (EIP-55 or one case).")]
SearchQuery = Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="Device id, owner address (or part), epoch.")]
ERRORS = openapi_responses(EXPLORER_NOT_FOUND, EXPLORER_BAD_INPUT)


def _problem(exc: Exception) -> ProblemError:
    if isinstance(exc, views.BadInput):
        return ProblemError(EXPLORER_BAD_INPUT, str(exc))
    return ProblemError(EXPLORER_NOT_FOUND, str(exc))


def explorer_router(
    data_dir: FsPath, *, prefix: str = "", tile_url: str | None = None, onchain: OnChain | None = None
) -> APIRouter:
    """The explorer's pages and API over `data_dir` (an oracle data dir or a demo dir).

    `prefix` is where the router is included (e.g. "/explorer"; "" for the root); links on the
    pages carry it. `tile_url` (`https://…/{z}/{x}/{y}.png`) adds a background map layer.
    `onchain` adds what only the chain knows (supply, burns, claims, settled roots).
    Raises ConfigError if `data_dir` holds no epochs directory.
    """
    network = Network(data_dir, onchain)
    pages = Pages(prefix, tile_url)
    router = APIRouter(prefix=prefix)
    static_root = resources.files("opendepin.explorer").joinpath("static")
    static = {name: static_root.joinpath(name).read_bytes() for name in STATIC_FILES}

    # -- JSON API -------------------------------------------------------------------------

    @router.get("/api/network", tags=["explorer"], response_model=NetworkOut)
    def api_network() -> NetworkOut:
        """Every published epoch: root, signers, emission, paid, rejected by reason."""
        return views.network_view(network)

    @router.get("/api/map", tags=["explorer"], response_model=MapOut, responses=ERRORS)
    def api_map(epoch: EpochQuery = None) -> MapOut:
        """Every device of the epoch's registry snapshot on its H3 cell, projected for the canvas."""
        try:
            return views.map_view(network, epoch, tile_url)
        except views.NotFound as exc:
            raise _problem(exc) from exc

    @router.get("/api/devices/{device}", tags=["explorer"], response_model=DeviceOut, responses=ERRORS)
    def api_device(device: AddressPath, epoch: EpochQuery = None) -> DeviceOut:
        """A device: kind, owner, location, why (not) rewarded, every verdict of the epoch."""
        try:
            return devices.device_view(network, device, epoch)
        except (views.NotFound, views.BadInput) as exc:
            raise _problem(exc) from exc

    @router.get("/api/owners/{address}", tags=["explorer"], response_model=OwnerOut, responses=ERRORS)
    def api_owner(address: AddressPath) -> OwnerOut:
        """An owner: cumulative rewards per epoch, its devices, the claim calldata."""
        try:
            return devices.owner_view(network, address)
        except (views.NotFound, views.BadInput) as exc:
            raise _problem(exc) from exc

    @router.get("/api/epochs/{epoch}", tags=["explorer"], response_model=EpochOut, responses=ERRORS)
    def api_epoch(epoch: EpochPath) -> EpochOut:
        """An epoch's manifest, every file with its sha256, signers, oracles' agreement."""
        try:
            return views.epoch_view(network, epoch, prefix)
        except views.NotFound as exc:
            raise _problem(exc) from exc

    @router.get("/api/epochs/{epoch}/audit", tags=["explorer"], response_model=AuditOut, responses=ERRORS)
    def api_audit(epoch: EpochPath) -> AuditOut:
        """`depin audit` of the epoch: recomputed from its files, compared output by output."""
        try:
            return views.audit_view(network, epoch)
        except views.NotFound as exc:
            raise _problem(exc) from exc

    @router.get("/api/search", tags=["explorer"], response_model=SearchOut, responses=ERRORS)
    def api_search(q: SearchQuery = "") -> SearchOut:
        """Devices, owners and epochs matching `q` (an address, 4+ hex digits of one, an epoch)."""
        return views.search(network, q, prefix)

    # -- HTML pages -----------------------------------------------------------------------

    @router.get("/", include_in_schema=False)
    def page_network(epoch: EpochQuery = None) -> Response:
        try:
            map_data = views.map_view(network, epoch, tile_url)
        except views.NotFound as exc:
            raise _problem(exc) from exc
        return pages.render("network.html", net=views.network_view(network), map=map_data)

    @router.get("/devices/{device}", include_in_schema=False)
    def page_device(device: AddressPath, epoch: EpochQuery = None) -> Response:
        view = api_device(device, epoch)
        symbol = views.epoch_or_404(network, view.epoch).token_symbol
        return pages.render("device.html", dev=view, symbol=symbol)

    @router.get("/owners/{address}", include_in_schema=False)
    def page_owner(address: AddressPath) -> Response:
        return pages.render("owner.html", owner=api_owner(address))

    @router.get("/epochs/{epoch}", include_in_schema=False)
    def page_epoch(epoch: EpochPath) -> Response:
        view = api_epoch(epoch)
        symbol = views.epoch_or_404(network, epoch).token_symbol
        return pages.render("epoch.html", ep=view, audit=api_audit(epoch), symbol=symbol)

    @router.get("/epochs/{epoch}/files/{path:path}", include_in_schema=False, responses=ERRORS)
    def epoch_file(epoch: EpochPath, path: Annotated[str, Path(max_length=MAX_FILE_PATH_CHARS)]) -> FileResponse:
        try:
            target = views.epoch_file(network, epoch, path)
        except views.NotFound as exc:
            raise _problem(exc) from exc
        media = "application/x-ndjson" if target.suffix == ".jsonl" else "application/json"
        return FileResponse(target, media_type=media, filename=target.name, content_disposition_type="inline",
                            headers={"X-Content-Type-Options": "nosniff"})

    @router.get("/search", include_in_schema=False)
    def page_search(q: SearchQuery = "") -> Response:
        result = views.search(network, q, prefix)
        if len(result.hits) == 1:
            return RedirectResponse(result.hits[0].url, status_code=303)
        return pages.render("search.html", result=result)

    @router.get("/static/{name}", include_in_schema=False)
    def static_file(name: Annotated[str, Path(max_length=64)]) -> Response:
        if name not in static:
            raise ProblemError(EXPLORER_NOT_FOUND, f"no static file {name[:64]!r}")
        return Response(static[name], media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"})

    return router


def explorer_app(data_dir: FsPath, *, tile_url: str | None = None, onchain: OnChain | None = None) -> FastAPI:
    """A complete explorer app over `data_dir`: the router at `/`, problem+json for every error."""
    app = FastAPI(
        title="opendepin explorer",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: the explorer fetches nothing
        redoc_url=None,
        version="1",
        description=__doc__,
        exception_handlers={
            ProblemError: handle_problem,
            StarletteHTTPException: handle_http_exception,
            RequestValidationError: handle_validation_error,
        },
    )
    app.include_router(explorer_router(data_dir, tile_url=tile_url, onchain=onchain))

    def openapi_with_problem() -> dict[str, object]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_problem  # type: ignore[method-assign]
    return app
