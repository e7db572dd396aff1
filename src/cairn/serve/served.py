"""The models a server holds: for each served name, its router and, for every version the
router may pick, the loaded model, its batcher and its readiness.

A version is ready once it has predicted its registered example (Triton's warm-up). When
an alias moves in the registry (an `alias.set` event since the last one seen), the new
version is loaded and warmed off the event loop, the router is swapped in one assignment,
and the old version's batcher answers what it already holds before it closes: no request in
flight fails across the switch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.models.audit import Action
from cairn.models.loaded import LoadedModel
from cairn.models.loading import load_version
from cairn.models.references import ModelRef
from cairn.models.signature import Signature, conform
from cairn.models.versions import ModelVersion, get_version
from cairn.serve.batcher import COST_WARMUP, Batcher, BatchObserver
from cairn.serve.routing import Router, router_from_spec
from cairn.serve.settings import ServeSettings
from cairn.store import Store, schema

log = logging.getLogger("cairn.serve")
ALIAS_MOVES = (Action.ALIAS_SET.value, Action.ALIAS_DELETE.value)


@dataclass
class ServedVersion:
    """One loaded version: what the router's choice resolves to."""

    version: ModelVersion
    model: LoadedModel
    batcher: Batcher | None  # None: batching off, each request predicts alone

    @property
    def signature(self) -> Signature | None:
        return self.model.signature

    def predict_now(self, inputs: object) -> object:
        """Predict on conformed inputs in the calling thread (no batching)."""
        return self.model.flavor.predict(self.model.native, inputs)


@dataclass
class ServedModel:
    """A served name: the alias it follows, its router, and its loaded versions."""

    ref: ModelRef
    router: Router
    versions: dict[int, ServedVersion]
    default: object | None = None  # the straggler answer, if one was configured
    retired: list[ServedVersion] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.ref.name

    def signature(self) -> Signature | None:
        """The signature requests are read against (the versions a router picks between
        share one: a gate can insist on it)."""
        return next(iter(self.versions.values())).signature


class Fleet:
    """Every served model, loaded from the store, kept in step with the registry."""

    def __init__(
        self,
        store: Store,
        settings: ServeSettings,
        observer_for: Callable[[str, int], BatchObserver] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.observer_for = observer_for
        self.models: dict[str, ServedModel] = {}
        self.ready = False
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cairn-serve-load")
        self._last_event = 0

    async def start(self) -> None:
        """Load and warm every version every router may pick; then the server is ready."""
        with self.store.reader() as conn:
            self._last_event = conn.execute(sa.select(sa.func.max(schema.events.c.id))).scalar()
        self._last_event = self._last_event or 0
        loop = asyncio.get_running_loop()
        for ref in self.settings.refs():
            target = await loop.run_in_executor(self._pool, self._resolve, ref)
            spec = self.settings.routes.get(ref.name, "alias")
            router = router_from_spec(spec, target.version)
            versions = {}
            for number in sorted(router.versions()):
                versions[number] = await self._load(ref.name, number)
            self.models[ref.name] = ServedModel(
                ref, router, versions, self.settings.defaults.get(ref.name)
            )
        self.ready = True

    def _resolve(self, ref: ModelRef) -> ModelVersion:
        return get_version(ref, store=self.store)

    async def _load(self, name: str, number: int) -> ServedVersion:
        loop = asyncio.get_running_loop()
        version = await loop.run_in_executor(
            self._pool, self._resolve, ModelRef(name, version=number)
        )
        model = await loop.run_in_executor(self._pool, load_version, self.store, version)
        batcher = None
        if self.settings.batching:
            batcher = Batcher(
                lambda batch, m=model: m.flavor.predict(m.native, batch),
                slo_s=self.settings.slo_ms / 1000.0,
                max_batch=self.settings.max_batch,
                observer=self.observer_for(name, number) if self.observer_for else None,
                name=f"{name}/{number}",
            )
        served = ServedVersion(version, model, batcher)
        await self._warm_up(served)
        return served

    async def _warm_up(self, served: ServedVersion) -> None:
        """Predict the registered example the way requests will be predicted: a model that
        cannot is not ready, and the batcher starts knowing how long a batch takes."""
        example = served.version.example
        if example is None:
            return
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(self._pool, self.store.get_value, example)
        inputs = conform(served.signature, value)
        if served.batcher is not None:
            # A batcher does not time its first batch (imports, caches: not what the next
            # ones cost) and trusts its cost fit only after COST_WARMUP more: warmed this
            # way, it can refuse an overload from the first request on.
            for _ in range(COST_WARMUP + 1):
                await served.batcher.submit(inputs)
        else:
            await loop.run_in_executor(self._pool, served.predict_now, inputs)

    async def follow(self) -> None:
        """Poll the registry for alias moves until cancelled."""
        while True:
            await asyncio.sleep(self.settings.poll_s)
            try:
                await self.check_moves()
            except Exception:  # a store hiccup must not stop the server from following
                log.exception("cairn serve could not check the registry for alias moves")

    async def check_moves(self) -> None:
        loop = asyncio.get_running_loop()
        moved = await loop.run_in_executor(self._pool, self._moves_since_last)
        for name in moved:
            served = self.models[name]
            if served.ref.alias is None:
                continue
            try:
                target = await loop.run_in_executor(self._pool, self._resolve, served.ref)
            except Exception as exc:  # the alias was deleted: keep serving what we have
                log.warning("%s: %s; still serving what it pointed to", served.ref, exc)
                continue
            await self._switch(served, target.version)

    def _moves_since_last(self) -> set[str]:
        events = schema.events
        names = {m.ref.name for m in self.models.values() if m.ref.alias is not None}
        with self.store.reader() as conn:
            rows = conn.execute(
                sa.select(events.c.id, events.c.subject)
                .where(events.c.id > self._last_event, events.c.action.in_(ALIAS_MOVES))
                .order_by(events.c.id)
            ).all()
        if rows:
            self._last_event = rows[-1].id
        return {r.subject.removeprefix("model/") for r in rows} & names

    async def _switch(self, served: ServedModel, number: int) -> None:
        router = served.router.retarget(number)
        if router is served.router:
            return
        for missing in sorted(router.versions() - served.versions.keys()):
            served.versions[missing] = await self._load(served.name, missing)
        old = served.router
        served.router = router  # from here on, new requests go to the new version
        for dropped in sorted(old.versions() - router.versions()):
            retired = served.versions.pop(dropped)
            if retired.batcher is not None:
                await retired.batcher.drain()  # what it already holds is still answered
                retired.batcher.close()
        log.info("%s now serves version %d", served.ref, number)

    async def stop(self) -> None:
        for served in self.models.values():
            for version in served.versions.values():
                if version.batcher is not None:
                    await version.batcher.drain()
                    version.batcher.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
