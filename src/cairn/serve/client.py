"""`cairn.serve.Client(url).predict(name, inputs)`: the server's v1 API from Python."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson

from cairn.errors import CairnError, NotFoundError, OverloadedError, RequestError


@dataclass(frozen=True)
class Prediction:
    predictions: list
    model: str
    version: int
    id: str
    default: bool = False  # the straggler default answered


class ServerError(CairnError):
    """The server answered with an error: its status and its message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"{status}: {message}")


class Client:
    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def predict(self, name: str, inputs: object) -> Prediction:
        """`inputs`: rows (lists or dicts), a NumPy array, or a pandas frame."""
        data = self._post(f"/v1/models/{name}/predict", {"inputs": _rows(inputs)})
        return Prediction(
            data["predictions"], data["model"], data["version"], data["id"],
            data.get("default", False),
        )  # fmt: skip

    def feedback(self, name: str, prediction_id: str, reward: float) -> dict:
        return self._post(f"/v1/models/{name}/feedback", {"id": prediction_id, "reward": reward})

    def ready(self) -> bool:
        return self._http.get("/health/ready").status_code == 200

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict) -> dict:
        body_bytes = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        response = self._http.post(path, content=body_bytes)
        data = response.json() if response.content else {}
        if response.status_code == 200:
            return data
        message = data.get("error", response.text) if isinstance(data, dict) else response.text
        kind = {400: RequestError, 404: NotFoundError}.get(response.status_code)
        if kind is not None:
            raise kind(message)
        if response.status_code == 503:
            raise OverloadedError(message, float(response.headers.get("retry-after", 1)))
        raise ServerError(response.status_code, message)


def _rows(inputs: object) -> object:
    to_dict = getattr(inputs, "to_dict", None)
    if callable(to_dict):  # a pandas frame: rows as {column: value}
        return to_dict(orient="records")
    to_dicts = getattr(inputs, "to_dicts", None)
    if callable(to_dicts):  # a polars frame
        return to_dicts()
    return inputs
