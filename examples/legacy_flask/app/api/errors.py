from flask import jsonify

from ..exceptions import ValidationError
from . import api


def error_response(status, error, message):
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    return response


def bad_request(message):
    return error_response(400, "bad request", message)


def unauthorized(message):
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Basic realm="blog"'
    return response


def forbidden(message):
    return error_response(403, "forbidden", message)


def conflict(message):
    return error_response(409, "conflict", message)


@api.errorhandler(ValidationError)
def validation_error(e):
    return bad_request(e.args[0])
