"""Model phases as NEMA phases: rings, barriers and the per-site mapping.

A NEMA controller times numbered phases (1..n) arranged in **rings** (phases of one ring run
one after the other, in the ring's order) and **barriers** (groups of phases that may run
together across rings; every ring crosses a barrier at the same time). Our
:class:`~optimizer.intersection.IntersectionModel` has green *stages* instead: each model
phase is one stage, i.e. one set of concurrent NEMA phases (at most one per ring, all in the
same barrier group). :class:`NemaMapping` is that correspondence for one intersection.

* :func:`phase_map` (alias :meth:`NemaMapping.sequential`) is the default for SUMO-derived
  models: one ring, model phase ``k`` = NEMA phase ``k + 1``, one barrier group;
* :func:`load_mapping` reads a per-site YAML/JSON file, e.g. a dual-ring 8-phase site::

      tls_id: J1
      rings: [[1, 2, 3, 4], [5, 6, 7, 8]]
      barriers: [[1, 2, 5, 6], [3, 4, 7, 8]]
      phases: {0: [2, 6], 1: [1, 5], 2: [4, 8], 3: [3, 7]}   # model phase -> NEMA phases

NTCIP bit masks (``phaseStatusGroup*``/``phaseControlGroup*``: group 1 = phases 1-8,
bit ``n - 1``) are :func:`controllers.ntcip.oids.phase_group` / ``phase_masks``;
:meth:`NemaMapping.masks` applies them to model phases.

A NEMA phase's signal links are those green in *every* stage that contains it, so the link
state shown for any set of green/yellow NEMA phases follows from the mapping
(:meth:`NemaMapping.link_state`); the conflict monitor checks exactly that state.

Example::

    mapping = phase_map(model)                       # or load_mapping("site/J1.yaml", models)
    mapping.nema_phases(2)                           # (3,)
    mapping.model_phase(frozenset({3}))              # 2
    mapping.check_sequence((0, 1, 3))                # PlanError if it breaks ring order
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from controllers.ntcip import oids
from optimizer.intersection import GREEN_CHARS, IntersectionModel
from phasewise_errors import ConfigError, PlanError, read_config_file, validation_error

MAX_NEMA_PHASE = 32
"""Highest NEMA phase number we map to (four 8-phase groups; NTCIP allows more, cabinets
commonly have 16 or 32)."""


@dataclass(frozen=True)
class NemaMapping:
    """Model phase <-> NEMA phases, rings and barriers of one intersection.

    ``stages[k]`` are the NEMA phases shown green while model phase ``k`` is green;
    ``rings`` each ring's phase order; ``barriers`` the concurrency groups (every phase in
    exactly one). Build with :meth:`sequential` / :func:`load_mapping`, which validate.
    """

    tls_id: str
    stages: tuple[tuple[int, ...], ...]
    rings: tuple[tuple[int, ...], ...]
    barriers: tuple[tuple[int, ...], ...]
    model: IntersectionModel

    # --- construction -------------------------------------------------------------------
    @classmethod
    def sequential(cls, model: IntersectionModel) -> NemaMapping:
        """One ring, model phase ``k`` = NEMA phase ``k + 1``, one barrier group."""
        n = len(model.phases)
        if n > MAX_NEMA_PHASE:
            raise ConfigError(
                f"{model.tls_id}: {n} phases do not fit {MAX_NEMA_PHASE} NEMA phases; "
                "write a mapping file (controllers.ntcip.nema.load_mapping)"
            )
        ring = tuple(range(1, n + 1))
        mapping = cls(model.tls_id, tuple((k + 1,) for k in range(n)), (ring,), (ring,), model)
        mapping.validate()
        return mapping

    def validate(self, where: str = "") -> None:
        """Raise ``ConfigError`` (prefixed with ``where``, e.g. the file) if inconsistent."""
        at = f"{where}: " if where else f"{self.tls_id}: "
        if len(self.stages) != len(self.model.phases):
            raise ConfigError(
                f"{at}phases: maps {len(self.stages)} model phases, the model {self.model.tls_id} "
                f"has {len(self.model.phases)} (0..{len(self.model.phases) - 1}); map each once"
            )
        seen: dict[int, int] = {}
        for r, ring in enumerate(self.rings):
            for p in ring:
                if not 1 <= p <= MAX_NEMA_PHASE:
                    raise ConfigError(f"{at}rings[{r}]: NEMA phase {p} outside 1..{MAX_NEMA_PHASE}")
                if p in seen:
                    raise ConfigError(f"{at}rings[{r}]: NEMA phase {p} already in ring {seen[p] + 1}")
                seen[p] = r
        in_barrier: dict[int, int] = {}
        for b, group in enumerate(self.barriers):
            for p in group:
                if p not in seen:
                    raise ConfigError(f"{at}barriers[{b}]: NEMA phase {p} is in no ring")
                if p in in_barrier:
                    raise ConfigError(f"{at}barriers[{b}]: NEMA phase {p} already in barrier group {in_barrier[p]}")
                in_barrier[p] = b
        if missing := sorted(set(seen) - set(in_barrier)):
            raise ConfigError(f"{at}barriers: NEMA phases {missing} are in no barrier group; list every ring phase once")
        for k, stage in enumerate(self.stages):
            if not stage:
                raise ConfigError(f"{at}phases.{k}: no NEMA phase; give at least one")
            for p in stage:
                if p not in seen:
                    raise ConfigError(f"{at}phases.{k}: NEMA phase {p} is in no ring; add it to rings")
            rings = [seen[p] for p in stage]
            if len(set(rings)) != len(rings):
                raise ConfigError(f"{at}phases.{k}: NEMA phases {list(stage)} share a ring; a stage shows one phase per ring")
            if len({in_barrier[p] for p in stage}) > 1:
                raise ConfigError(f"{at}phases.{k}: NEMA phases {list(stage)} cross a barrier; they cannot be green together")
        if len(set(self.stages)) != len(self.stages):
            raise ConfigError(f"{at}phases: two model phases map to the same NEMA phases")
        for p in seen:
            if not any(p in stage for stage in self.stages):
                raise ConfigError(f"{at}rings: NEMA phase {p} serves no model phase; drop it or map it")

    # --- what the manager side needs ----------------------------------------------------
    @cached_property
    def nema_phases_used(self) -> tuple[int, ...]:
        """Every NEMA phase of the site, ascending."""
        return tuple(sorted({p for stage in self.stages for p in stage}))

    @property
    def phase_groups(self) -> int:
        """How many 8-phase status/control groups the site needs."""
        return max(oids.phase_group(p)[0] for p in self.nema_phases_used)

    def nema_phases(self, model_phase: int) -> tuple[int, ...]:
        """The NEMA phases green while ``model_phase`` is green."""
        return self.stages[model_phase]

    def model_phase(self, green_nema_phases: frozenset[int]) -> int | None:
        """The model phase showing exactly these green NEMA phases (None: no stage, e.g. clearance)."""
        return self._stage_by_set.get(frozenset(green_nema_phases))

    def model_phases_of(self, nema_phase: int) -> tuple[int, ...]:
        """The model phases (stages) in which ``nema_phase`` is green."""
        return tuple(k for k, stage in enumerate(self.stages) if nema_phase in stage)

    def ring_of(self, nema_phase: int) -> int:
        """The ring number (1-based) of a NEMA phase (``phaseRing``)."""
        for r, ring in enumerate(self.rings):
            if nema_phase in ring:
                return r + 1
        raise KeyError(nema_phase)

    def barrier_of(self, nema_phase: int) -> int:
        """The barrier group (0-based) of a NEMA phase."""
        for b, group in enumerate(self.barriers):
            if nema_phase in group:
                return b
        raise KeyError(nema_phase)

    def masks(self, model_phases: Iterable[int]) -> dict[int, int]:
        """NTCIP group -> bit mask of the NEMA phases of these model phases."""
        nema = [p for k in model_phases for p in self.stages[k]]
        return oids.phase_masks(nema, self.phase_groups)

    @cached_property
    def _stage_by_set(self) -> dict[frozenset[int], int]:
        return {frozenset(stage): k for k, stage in enumerate(self.stages)}

    # --- sequencing -----------------------------------------------------------------------
    def check_sequence(self, sequence: Sequence[int]) -> None:
        """Refuse (``PlanError``) a model-phase sequence a NEMA controller cannot run.

        Phases may be skipped, but in every ring the NEMA phases must come in the ring's
        order (cyclically) and each phase's greens must be consecutive; the stages of one
        barrier group must be consecutive (cyclically), since rings cross barriers together.
        """
        tls = self.tls_id
        for k in sequence:
            if not 0 <= k < len(self.stages):
                raise PlanError(f"{tls} phase {k}: no such phase (mapping has 0..{len(self.stages) - 1})")
        for r, ring in enumerate(self.rings):
            runs = _runs([next((p for p in self.stages[k] if p in ring), None) for k in sequence])
            order = [ring.index(p) for p in runs]
            if len(set(runs)) != len(runs) or not _cyclically_increasing(order):
                raise PlanError(
                    f"{tls}: phase sequence {list(sequence)} runs ring {r + 1} as NEMA {runs}, "
                    f"not in the ring's order {list(ring)}"
                )
        groups = _runs([self.barrier_of(self.stages[k][0]) for k in sequence])
        if len(set(groups)) != len(groups):
            raise PlanError(f"{tls}: phase sequence {list(sequence)} crosses a barrier and comes back within one cycle")

    def ring_sequence(self, start: int | None = None) -> tuple[int, ...]:
        """The model phases in the order the controller serves them (by their first ring's order)."""
        def key(k: int) -> tuple[int, int]:
            p = self.stages[k][0]
            b = self.barrier_of(p)
            ring = self.rings[self.ring_of(p) - 1]
            return b, ring.index(p)

        order = tuple(sorted(range(len(self.stages)), key=key))
        if start is None:
            return order
        i = order.index(start)
        return order[i:] + order[:i]

    # --- links ----------------------------------------------------------------------------
    @cached_property
    def phase_links(self) -> dict[int, frozenset[int]]:
        """NEMA phase -> signal links green in every stage containing it."""
        out = {}
        for p in self.nema_phases_used:
            sets = [self.model.phases[k].green_links for k in self.model_phases_of(p)]
            out[p] = frozenset.intersection(*sets)
        return out

    def link_state(
        self, greens: Iterable[int], yellows: Iterable[int] = (), clearing: Iterable[int] = (), nexts: Iterable[int] = (),
        walking: bool = False,
    ) -> str:
        """SUMO state string shown for these green and yellow NEMA phases (others red).

        Pedestrian crossings (``model.crossings``) show the stage's walk only while
        ``walking`` (the controller times walk and clearance); else, and in every change,
        don't walk (red).

        When the greens are exactly a stage, that model phase's own state (``G``/``g``) is
        shown; otherwise each green link gets the character it has in a stage containing one
        of its phases. Yellow links that are not green show ``y``.

        During a change (``clearing``: the phases ending, in yellow or red clearance;
        ``nexts``: the phases about to turn green) a link of an ending phase that the next
        phases serve too stays green, as a NEMA overlap carries over from one parent phase to
        the next (and as SUMO's own transitions keep such links green).
        """
        green_set = frozenset(greens)
        stage = self.model_phase(green_set)
        n = self.model.state_length
        if stage is not None:
            chars = list(self.model.phases[stage].state)
        else:
            chars = ["r"] * n
            for p in sorted(green_set):
                self._paint(chars, p, self.phase_links.get(p, ()))
        next_links = frozenset().union(*(self.phase_links.get(q, frozenset()) for q in nexts))
        for p in clearing:
            self._paint(chars, p, self.phase_links.get(p, frozenset()) & next_links)
        for p in yellows:
            for i in self.phase_links.get(p, ()):
                if chars[i] not in GREEN_CHARS:
                    chars[i] = "y"
        if self.model.crossings and not (walking and stage is not None and not clearing):
            for c in self.model.crossings:
                chars[c.index] = "r"
        return "".join(chars)

    def _paint(self, chars: list[str], nema_phase: int, links: Iterable[int]) -> None:
        """Show ``links`` green with the character a stage of ``nema_phase`` gives them."""
        state = self.model.phases[self.model_phases_of(nema_phase)[0]].state
        for i in links:
            chars[i] = "G" if state[i] == "G" or chars[i] == "G" else "g"


def phase_map(model: IntersectionModel) -> NemaMapping:
    """The default mapping of a model (see :meth:`NemaMapping.sequential`)."""
    return NemaMapping.sequential(model)


class NemaSiteFile(BaseModel):
    """The per-site mapping file (YAML or JSON); see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    tls_id: str
    rings: list[list[int]]
    barriers: list[list[int]] | None = None
    phases: dict[int, list[int]]


def load_mapping(path: str | Path, models: Mapping[str, IntersectionModel]) -> NemaMapping:
    """Read and validate a site's mapping; ``ConfigError`` names the file and the field."""
    file = Path(path)
    raw = read_config_file(file, "NEMA mapping")
    try:
        site = NemaSiteFile.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(file, exc) from None
    if site.tls_id not in models:
        raise ConfigError(f"{file}: tls_id: no traffic light {site.tls_id!r} in the network ({', '.join(list(models)[:5])}...)")
    model = models[site.tls_id]
    if sorted(site.phases) != list(range(len(model.phases))):
        raise ConfigError(
            f"{file}: phases: map model phases 0..{len(model.phases) - 1} of {site.tls_id} once each, "
            f"got {sorted(site.phases)}"
        )
    rings = tuple(tuple(r) for r in site.rings)
    barriers = tuple(tuple(b) for b in site.barriers) if site.barriers else (tuple(p for r in rings for p in r),)
    mapping = NemaMapping(site.tls_id, tuple(tuple(site.phases[k]) for k in sorted(site.phases)), rings, barriers, model)
    mapping.validate(str(file))
    return mapping


def _runs(items: Sequence[int | None]) -> list[int]:
    """Consecutive distinct values (cyclically: a run wrapping around the end is one run)."""
    values = [x for x in items if x is not None]
    runs = [x for i, x in enumerate(values) if i == 0 or values[i - 1] != x]
    if len(runs) > 1 and runs[0] == runs[-1]:
        runs.pop()
    return runs


def _cyclically_increasing(order: list[int]) -> bool:
    """True when ``order`` is increasing after some rotation (one wrap at most)."""
    drops = sum(1 for a, b in zip(order, order[1:] + order[:1]) if b <= a)
    return drops <= 1
