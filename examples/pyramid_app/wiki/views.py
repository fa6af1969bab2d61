from pyramid.httpexceptions import HTTPConflict, HTTPNotFound
from pyramid.view import view_config
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .models import Page


def _page(request):
    page = request.dbsession.scalars(select(Page).filter_by(name=request.matchdict["name"])).one_or_none()
    if page is None:
        raise HTTPNotFound(json_body={"error": "no such page"})
    return page


def _as_dict(page):
    return {"name": page.name, "body": page.body, "views": page.views}


@view_config(route_name="pages", request_method="GET", renderer="json")
def list_pages(request):
    return [page.name for page in request.dbsession.scalars(select(Page).order_by(Page.name))]


@view_config(route_name="pages", request_method="POST", renderer="json")
def create_page(request):
    page = Page(name=request.json_body["name"], body=request.json_body.get("body", ""))
    request.dbsession.add(page)
    try:
        request.dbsession.flush()  # the commit itself happens when the view returns (pyramid_tm)
    except IntegrityError:  # raised: pyramid_tm aborts the request's transaction
        raise HTTPConflict(json_body={"error": "that page exists, or its name is not a WikiWord"}) from None
    request.response.status_code = 201
    return _as_dict(page)


@view_config(route_name="page", request_method="GET", renderer="json")
def view_page(request):
    return _as_dict(_page(request))


@view_config(route_name="page_views", request_method="POST", renderer="json")
def count_a_view(request):
    page = _page(request)
    page.views += 1
    return _as_dict(page)


@view_config(route_name="page", request_method="DELETE", renderer="json")
def delete_page(request):
    request.dbsession.delete(_page(request))
    return {"deleted": request.matchdict["name"]}
