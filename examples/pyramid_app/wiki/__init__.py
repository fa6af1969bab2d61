from pyramid.config import Configurator


def main(global_config, **settings):
    """This function returns a Pyramid WSGI application (``pserve development.ini`` calls it)."""
    with Configurator(settings=settings) as config:
        config.include(".models")
        config.include(".routes")
        config.scan(".views")
    return config.make_wsgi_app()
