"""One prediction, whatever the wire format: route, conform, cache, batch, log.

Everything here runs on the event loop and must cost microseconds: the model runs in its
batcher's thread, the prediction log serializes on its writer thread, and the router, the
cache and the metrics are in-memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from cairn.errors import NotFoundError, OverloadedError, PayloadTooLargeError
from cairn.models.signature import conform
from cairn.serve.cache import PredictionCache
from cairn.serve.metrics import Metrics
from cairn.serve.predictions import PredictionLog
from cairn.serve.served import Fleet, ServedModel, ServedVersion

log = logging.getLogger("cairn.serve")
RECENT_IDS = 100_000  # predictions that may still get feedback


@dataclass(frozen=True)
class Outcome:
    name: str
    version: int
    outputs: object
    id: str
    fallback: bool = False  # the straggler default answered


class Predictor:
    def __init__(
        self,
        fleet: Fleet,
        predictions: PredictionLog,
        metrics: Metrics,
        cache: PredictionCache | None,
        max_rows: int,
        slo_s: float,
    ) -> None:
        self.fleet = fleet
        self.predictions = predictions
        self.metrics = metrics
        self.cache = cache
        self.max_rows = max_rows
        self.slo_s = slo_s
        self.recent: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def served(self, name: str) -> ServedModel:
        served = self.fleet.models.get(name)
        if served is None:
            if not self.fleet.ready:
                raise OverloadedError("the server is still loading its models", 1.0)
            known = ", ".join(sorted(self.fleet.models)) or "none"
            raise NotFoundError(f"model {name!r} is not served here; served: {known}")
        return served

    async def predict(self, name: str, raw: object) -> Outcome:
        served = self.served(name)
        choice = served.router.choose()
        # No await between choosing and looking up: a reload swaps the router atomically
        # between requests, so the chosen version is always loaded.
        target = served.versions[choice.version]
        inputs = conform(target.signature, raw)
        rows = len(inputs)
        if rows > self.max_rows:
            raise PayloadTooLargeError(
                f"{rows:,} rows is over this server's limit of {self.max_rows:,} a request; "
                "split the request"
            )
        started = time.perf_counter()
        outputs, fallback = await self._outputs(served, target, inputs)
        prediction_id = self.predictions.new_id()
        self.predictions.record(
            prediction_id, name=name, version=choice.version,
            artifact_id=target.version.artifact_id, inputs=inputs, outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1e3, route=choice.route.value,
            fallback=fallback,
        )  # fmt: skip
        self._remember(prediction_id, name, choice.version)
        for shadow in choice.shadows:
            asyncio.get_running_loop().create_task(
                self._shadow(served, shadow, inputs, outputs, prediction_id)
            )
        return Outcome(name, choice.version, outputs, prediction_id, fallback)

    async def _outputs(
        self, served: ServedModel, target: ServedVersion, inputs: object
    ) -> tuple[object, bool]:
        cache, key = self.cache, None
        version = target.version.version
        if cache is not None:
            key = cache.key_of(inputs)
            if key is not None:
                hit = cache.get(target.version.digest, key)
                self.metrics.cache(served.name, version, hit is not None)
                if hit is not None:
                    return hit, False
        if target.batcher is None:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(None, target.predict_now, inputs)
        elif served.default is None:
            outputs = await target.batcher.submit(inputs)
        else:
            pending = asyncio.ensure_future(target.batcher.submit(inputs))
            try:
                outputs = await asyncio.wait_for(asyncio.shield(pending), self.slo_s)
            except asyncio.TimeoutError:
                pending.add_done_callback(_consume)
                self.metrics.error(served.name, "deadline")
                return served.default, True
        if key is not None:
            cache.put(target.version.digest, key, outputs)
        return outputs, False

    async def _shadow(
        self, served: ServedModel, number: int, inputs: object, primary: object, of: str
    ) -> None:
        """A candidate's answer to a copy of the request: logged beside the primary's, never
        returned."""
        target = served.versions.get(number)
        if target is None:
            return
        started = time.perf_counter()
        try:
            outputs, _ = await self._outputs(served, target, inputs)
        except Exception:  # a failing shadow must never touch the primary's answer
            self.metrics.error(served.name, "shadow")
            log.exception("shadow %s/%d failed on prediction %s", served.name, number, of)
            return
        agreed = _same(outputs, primary)
        self.metrics.shadow(served.name, number, agreed)
        self.predictions.record(
            self.predictions.new_id(), name=served.name, version=number,
            artifact_id=target.version.artifact_id, inputs=inputs, outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1e3, route="shadow", shadow=True,
        )  # fmt: skip

    def _remember(self, prediction_id: str, name: str, version: int) -> None:
        recent = self.recent
        recent[prediction_id] = (name, version)
        if len(recent) > RECENT_IDS:
            recent.popitem(last=False)

    def feedback(self, name: str, prediction_id: object, reward: object) -> int:
        """Credit `reward` to the version that made prediction `prediction_id`."""
        if not isinstance(prediction_id, str) or prediction_id not in self.recent:
            raise NotFoundError(
                f"no recent prediction {prediction_id!r}: feedback is taken for the last "
                f"{RECENT_IDS:,} predictions of this server process"
            )
        made_by, version = self.recent[prediction_id]
        if made_by != name:
            raise NotFoundError(f"prediction {prediction_id} was made by {made_by!r}, not {name!r}")
        self.served(name).router.feedback(version, reward)
        return version


def _consume(task: asyncio.Future) -> None:
    """A late answer nobody waits for any more: retrieve its exception so asyncio does not
    report it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _same(a: object, b: object) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # outputs numpy cannot compare are simply counted as disagreeing
        return False
