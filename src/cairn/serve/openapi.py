"""The OpenAPI document of a running server: every route, what it takes, every status it
answers with. Schemathesis checks the server against it (tests/serve/test_openapi.py)."""

from __future__ import annotations

from cairn.serve.settings import ServeSettings

ERROR = {
    "type": "object",
    "required": ["error", "type"],
    "properties": {
        "error": {"type": "string"},
        "type": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
ROWS = {
    "description": "Rows: a list of rows (lists of numbers), a list of {column: value}, or one "
    "{column: value}",
    "oneOf": [
        {"type": "array", "items": {}},
        {"type": "object"},
    ],
}
TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}


def _errors(*statuses: int) -> dict:
    reasons = {
        400: "The request cannot be read",
        404: "No such model, or no such prediction",
        413: "The body or the number of rows is over the limit",
        415: "The content type is not one this route takes",
        422: "The inputs do not fit the model's signature",
        500: "The model failed inside predict (the body has the request id)",
        503: "Overloaded or still loading: retry after the Retry-After header's seconds",
    }
    return {
        str(s): {
            "description": reasons[s],
            "content": {"application/json": {"schema": ERROR}},
        }
        for s in statuses
    }


def _json(schema: dict, description: str = "OK") -> dict:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _body(schema: dict, media: str = "application/json", required: bool = True) -> dict:
    return {"required": required, "content": {media: {"schema": schema}}}


NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
PREDICT_ERRORS = _errors(400, 404, 413, 415, 422, 500, 503)


def openapi_document(settings: ServeSettings) -> dict:
    names = [r.name for r in settings.refs()]
    prediction = {
        "type": "object",
        "required": ["predictions", "model", "version", "id"],
        "properties": {
            "predictions": {},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "id": {"type": "string"},
            "default": {"type": "boolean"},
        },
    }
    paths = {
        "/v1/models/{name}/predict": {
            "post": {
                "summary": "Predict with the model the name's router picks",
                "parameters": NAME,
                "requestBody": _body(
                    {"type": "object", "required": ["inputs"], "properties": {"inputs": ROWS}}
                ),
                "responses": {**_json(prediction), **PREDICT_ERRORS},
            }
        },
        "/v1/models/{name}/feedback": {
            "post": {
                "summary": "A reward for a prediction, for bandit routing",
                "parameters": NAME,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["id", "reward"],
                        "properties": {"id": {"type": "string"}, "reward": {"type": "number"}},
                    }
                ),
                "responses": {
                    **_json({"type": "object"}),
                    **_errors(400, 404, 413, 503),
                },
            }
        },
        "/v1/models": {
            "get": {"summary": "The served models", "responses": _json({"type": "object"})}
        },
        "/v2/models/{name}/infer": {
            "post": {
                "summary": "Open Inference Protocol v2 inference",
                "parameters": NAME,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "id": {"type": "string"},
                            "inputs": {"type": "array", "items": TENSOR},
                            "parameters": {"type": "object"},
                            "outputs": {"type": "array"},
                        },
                    }
                ),
                "responses": {
                    **_json(
                        {
                            "type": "object",
                            "required": ["model_name", "outputs"],
                            "properties": {
                                "model_name": {"type": "string"},
                                "model_version": {"type": "string"},
                                "id": {"type": "string"},
                                "outputs": {"type": "array", "items": TENSOR},
                            },
                        }
                    ),
                    **PREDICT_ERRORS,
                },
            }
        },
        "/v2/models/{name}": {
            "get": {
                "summary": "Open Inference Protocol model metadata",
                "parameters": NAME,
                "responses": {**_json({"type": "object"}), **_errors(404, 503)},
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "Whether the model is ready",
                "parameters": NAME,
                "responses": {**_json({"type": "object"}), **_errors(404, 503)},
            }
        },
        "/v2/health/live": {"get": {"responses": _json({"type": "object"})}},
        "/v2/health/ready": {
            "get": {"responses": {**_json({"type": "object"}), "503": {"description": "Loading"}}}
        },
        "/invocations": {
            "post": {
                "summary": "MLflow's scoring protocol",
                "parameters": [
                    {
                        "name": "model",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    **_json({"type": "object", "required": ["predictions"]}),
                    **PREDICT_ERRORS,
                },
            }
        },
        "/health/live": {"get": {"responses": _json({"type": "object"})}},
        "/health/ready": {"get": {"responses": {**_json({"type": "object"}), **_errors(503)}}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "OK", "content": {"text/plain": {}}}},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cairn serve",
            "version": "1",
            "description": f"Serving {', '.join(names)}",
        },
        "paths": paths,
    }
