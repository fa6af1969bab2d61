def includeme(config):
    config.add_route("pages", "/pages")
    config.add_route("page", "/pages/{name}")
    config.add_route("page_views", "/pages/{name}/views")
