"""The data MLflow's ElasticNet example reads, served where it reads it.

The example reads the UCI wine-quality CSV from its URL. There is no internet here, so a
table with the same columns and value ranges is generated, and an HTTP proxy on 127.0.0.1
answers that URL with it: a script given `http_proxy` reads it through pandas' own
`read_csv(URL)`, its code unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd

WINE_URL = (
    "http://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/winequality-red.csv"
)
# Column: (low, high) of the red wines' values.
RANGES = {
    "fixed acidity": (4.6, 15.9),
    "volatile acidity": (0.12, 1.58),
    "citric acid": (0.0, 1.0),
    "residual sugar": (0.9, 15.5),
    "chlorides": (0.012, 0.611),
    "free sulfur dioxide": (1.0, 72.0),
    "total sulfur dioxide": (6.0, 289.0),
    "density": (0.990, 1.004),
    "pH": (2.74, 4.01),
    "sulphates": (0.33, 2.0),
    "alcohol": (8.4, 14.9),
}


def wine_table(rows: int = 1599, seed: int = 0) -> pd.DataFrame:
    """Wines whose quality (3..8) rises with alcohol and sulphates and falls with volatile
    acidity, as in the real data, plus noise."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({c: rng.uniform(lo, hi, rows).round(3) for c, (lo, hi) in RANGES.items()})
    score = (
        5.6
        + 0.35 * (table["alcohol"] - 10.4)
        - 1.5 * (table["volatile acidity"] - 0.5)
        + 0.8 * (table["sulphates"] - 0.65)
        + rng.normal(0, 0.5, rows)
    )
    table["quality"] = score.round().clip(3, 8).astype(int)
    return table


@contextmanager
def proxy_answering(url: str, body: bytes) -> Iterator[tuple[str, list[str]]]:
    """An HTTP proxy on 127.0.0.1 that answers GET `url` with `body` and anything else with
    404; yields its address (for `http_proxy`) and the list of URLs it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a proxy's request line holds the absolute URL
            asked.append(self.path)
            if self.path != url:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
