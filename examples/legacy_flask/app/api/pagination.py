from flask import current_app, request, url_for


def paginated_json(query, key, per_page_setting, endpoint, **view_args):
    """One page of the query as {key: [...], "prev": url, "next": url, "count": total}."""
    page = request.args.get("page", 1, type=int)
    pagination = query.paginate(page, current_app.config[per_page_setting], error_out=False)
    return {
        key: [item.to_json() for item in pagination.items],
        "prev": url_for(endpoint, page=page - 1, **view_args) if pagination.has_prev else None,
        "next": url_for(endpoint, page=page + 1, **view_args) if pagination.has_next else None,
        "count": pagination.total,
    }
