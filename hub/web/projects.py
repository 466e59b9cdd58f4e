"""`/projects/{ocid}`: the whole-process disclosure timeline of one project.

Each notice in publishing order with publisher and source site, corrections set against the
notice they supersede, then lots, awards, contracts and the project's flags with evidence.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from hub.read.project import project_data
from hub.web.render import error_page, render


def page(engine: Engine) -> Callable[[Request], Response]:
    """A plain function: Starlette runs it in a worker thread, off the event loop."""

    def endpoint(request: Request) -> Response:
        ocid = request.path_params["ocid"]
        if not ocid or len(ocid) > 200:
            return error_page(request, 400, "项目标识有误 not a valid ocid")
        with engine.connect() as conn:
            data = project_data(conn, ocid)
        if data is None:
            return error_page(request, 404, f"没有项目 {ocid}: no project with this ocid")
        return render("project.html", **data)

    return endpoint
