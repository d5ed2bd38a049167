"""NEMA phase numbers, rings and barriers for the green stages of a model, as Synchro shows them.

Our :class:`~optimizer.intersection.IntersectionModel` has green *stages* (each model phase is a
set of links green together); Synchro and NEMA controllers time numbered *phases* in rings
and barriers, and a stage is the set of NEMA phases green at the same time (at most one per
ring, all on one side of a barrier: the structure :mod:`sumo_scenarios.nema` reads from SUMO
NEMA programs). :class:`RingStructure` is that correspondence for one intersection, in plain
numbers so that the optimizer needs nothing from ``controllers`` (the CLI turns a site's
``controllers.ntcip.nema`` mapping file into one).

Without a site mapping, :func:`standard_numbering` numbers the stages by the convention
Synchro files use (e.g. the Synchro UTDF 8 export in the ``utdf2gmns`` package): the main
street's throughs are phases 2 and 6, its protected lefts 1 and 5, the side street's throughs
4 and 8, its lefts 3 and 7; ring 1 = 1-4, ring 2 = 5-8; barrier 1 = {1, 2, 5, 6}, barrier 2 =
{3, 4, 7, 8}; a left phase is numbered one below the opposing through it conflicts with
(east-west main street: WBT 2, EBL 1, EBT 6, WBL 5, SBT 4, NBL 3, NBT 8, SBL 7). The main
street is the axis with more approach lanes. A stage gets an approach's through phase when
its through (or, on an approach without one, any of its turns) is green, and the approach's
left phase when the left turn is protected (``G``) while the opposing through is red; rights
and U-turns ride with their approach. When the stages do not fit two rings and two barriers
this way (a stage with no phase, two stages with the same phases, a phase whose stages are
not consecutive in the plan), :func:`sequential_numbering` numbers them 1..n in one ring, the
way the controller emulator's default mapping does.

Barrier-ring-position codes (``BRP``, :meth:`RingStructure.brp_codes`) are Synchro's:
``211`` = barrier 2, ring 1, first position, positions in the order the plan serves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from optimizer.intersection import GREEN_CHARS, IntersectionModel
from phasewise_errors import ConfigError

# the standard numbering, by the main street's axis: cardinal direction -> (through, left)
_EW_MAIN = {"WB": (2, 5), "EB": (6, 1), "SB": (4, 7), "NB": (8, 3)}
_NS_MAIN = {"SB": (2, 5), "NB": (6, 1), "EB": (4, 7), "WB": (8, 3)}
_OPPOSITE = {"NB": "SB", "SB": "NB", "EB": "WB", "WB": "EB"}
STANDARD_RINGS = ((1, 2, 3, 4), (5, 6, 7, 8))
STANDARD_BARRIERS = ((1, 2, 5, 6), (3, 4, 7, 8))
MAX_POSITIONS = 9  # a BRP code has one digit for the position


@dataclass(frozen=True)
class RingStructure:
    """Model phase (stage) -> NEMA phases, with rings and barriers, of one intersection.

    ``stages[k]`` are the NEMA phases green while model phase ``k`` is green; ``rings`` each
    ring's phases; ``barriers`` the groups of phases that may run together. ``standard`` says
    whether the numbering follows the NEMA convention (else phases are numbered 1..n in one ring);
    ``movement_phases`` the phase the convention gives each movement (where it names one).
    """

    stages: tuple[tuple[int, ...], ...]
    rings: tuple[tuple[int, ...], ...]
    barriers: tuple[tuple[int, ...], ...]
    standard: bool = True
    movement_phases: Mapping[str, int] = field(default_factory=dict)  # movement id -> its own NEMA phase

    @property
    def phases(self) -> tuple[int, ...]:
        """Every NEMA phase used, ascending."""
        return tuple(sorted({p for stage in self.stages for p in stage}))

    def ring_of(self, phase: int) -> int:
        return next(r for r, ring in enumerate(self.rings) if phase in ring)

    def barrier_of(self, phase: int) -> int:
        return next(b for b, group in enumerate(self.barriers) if phase in group)

    def model_phase(self, nema_phases: frozenset[int]) -> int | None:
        """The model phase showing exactly these NEMA phases, or None."""
        return next((k for k, s in enumerate(self.stages) if frozenset(s) == nema_phases), None)

    def runs(self, sequence: Sequence[int]) -> dict[int, list[int]] | None:
        """NEMA phase -> the positions in ``sequence`` where it is green, first to last (cyclically);
        None when some phase's stages are not consecutive or a barrier side comes back in one cycle."""
        n = len(sequence)
        out: dict[int, list[int]] = {}
        for p in self.phases:
            on = [p in self.stages[k] for k in sequence]
            if not any(on):
                continue
            if all(on):
                out[p] = list(range(n))
                continue
            starts = [i for i in range(n) if on[i] and not on[i - 1]]
            if len(starts) != 1:
                return None
            i, run = starts[0], []
            while on[i % n]:
                run.append(i % n)
                i += 1
            out[p] = run
        sides = [self.barrier_of(self.stages[k][0]) for k in sequence]
        changes = sum(1 for i in range(n) if sides[i] != sides[i - 1])
        if changes > len(self.barriers):
            return None
        return out

    def brp_codes(self, sequence: Sequence[int]) -> dict[int, int]:
        """NEMA phase -> Synchro's barrier-ring-position code for the plan's phase ``sequence``."""
        runs = self.runs(sequence)
        if runs is None:
            raise ConfigError(f"phase sequence {list(sequence)} does not run the NEMA phases in ring order")
        n = len(sequence)
        sides = [self.barrier_of(self.stages[k][0]) for k in sequence]
        # count positions from the first stage of a barrier side (the sequence may start mid-side)
        first = next((i for i in range(n) if sides[i] != sides[i - 1]), 0)

        def order(p: int) -> int:
            return (runs[p][0] - first) % n

        codes = {}
        for b, group in enumerate(self.barriers):
            for r, ring in enumerate(self.rings):
                members = sorted((p for p in runs if p in group and p in ring), key=order)
                if len(members) > MAX_POSITIONS:
                    raise ConfigError(f"{len(members)} phases in one ring and barrier; a BRP code holds {MAX_POSITIONS}")
                for pos, p in enumerate(members):
                    codes[p] = 100 * (b + 1) + 10 * (r + 1) + pos + 1
        return codes

    def validate(self, n_model_phases: int, where: str) -> None:
        """``ConfigError`` when the structure does not describe ``n_model_phases`` stages."""
        if len(self.stages) != n_model_phases:
            raise ConfigError(f"{where}: maps {len(self.stages)} model phases, the model has {n_model_phases}")
        if len(set(map(frozenset, self.stages))) != len(self.stages) or not all(self.stages):
            raise ConfigError(f"{where}: every model phase needs its own, non-empty set of NEMA phases")
        for k, stage in enumerate(self.stages):
            for p in stage:
                if not any(p in ring for ring in self.rings) or not any(p in g for g in self.barriers):
                    raise ConfigError(f"{where}: phase {k}: NEMA phase {p} is in no ring or barrier")
            if len({self.ring_of(p) for p in stage}) != len(stage) or len({self.barrier_of(p) for p in stage}) != 1:
                raise ConfigError(f"{where}: phase {k}: NEMA phases {list(stage)} share a ring or cross a barrier")


def sequential_numbering(model: IntersectionModel) -> RingStructure:
    """Model phase ``k`` = NEMA phase ``k + 1``, one ring; one barrier group (of eight phases
    each beyond eight, as a BRP code holds one digit for the position)."""
    ring = tuple(range(1, len(model.phases) + 1))
    groups = tuple(ring[k:k + 8] for k in range(0, len(ring), 8)) or ((),)
    return RingStructure(tuple((p,) for p in ring), (ring,), groups, standard=False)


def cardinal(bearing_deg: float) -> str:
    """``NB``/``EB``/``SB``/``WB``: the nearest of the four directions of travel (0 = north)."""
    return ("NB", "EB", "SB", "WB")[int(((bearing_deg % 360) + 45) // 90) % 4]


def standard_numbering(model: IntersectionModel, bearings_deg: Mapping[str, float],
                       sequence: Sequence[int] | None = None) -> RingStructure:
    """The NEMA convention's numbering of ``model``'s stages (module docstring); the sequential
    numbering when the stages do not fit it. ``bearings_deg``: approach edge -> direction of
    travel at its stop line; ``sequence``: the plan's phase order (the model's order if None)."""
    fallback = sequential_numbering(model)
    heading = {a: cardinal(bearings_deg[a]) for a in model.approaches}
    if len(set(heading.values())) != len(heading):
        return fallback  # two approaches from one side (a five-leg junction, a split approach)
    lanes = {a: len({lane for m in model.movements if m.approach == a for lane in m.from_lanes}) for a in heading}
    ew = sum(n for a, n in lanes.items() if heading[a] in ("EB", "WB"))
    ns = sum(n for a, n in lanes.items() if heading[a] in ("NB", "SB"))
    numbers = _EW_MAIN if ew >= ns else _NS_MAIN
    by_heading = {d: a for a, d in heading.items()}
    own = {m.id: numbers[heading[m.approach]][1 if m.turn == "left" else 0] for m in model.movements}
    stages = []
    for phase in model.phases:
        state = phase.state
        nema: set[int] = set()
        for a, d in heading.items():
            moves = [m for m in model.movements if m.approach == a and m.turn != "uturn"]
            through = [m for m in moves if m.turn == "through"] or moves
            if any(state[i] in GREEN_CHARS for m in through for i in m.link_indices):
                nema.add(numbers[d][0])
            lefts = [m for m in moves if m.turn == "left"]
            if not lefts or through == moves:
                continue
            opposing = by_heading.get(_OPPOSITE[d])
            opposing_green = opposing is not None and any(
                state[i] in GREEN_CHARS for m in model.movements if m.approach == opposing and m.turn == "through"
                for i in m.link_indices)
            if all(state[i] == "G" for m in lefts for i in m.link_indices) and not opposing_green:
                nema.add(numbers[d][1])
        stages.append(tuple(sorted(nema, key=lambda p: (p > 4, p))))
    used = {p for s in stages for p in s}
    structure = RingStructure(
        tuple(stages),
        tuple(r for r in (tuple(p for p in ring if p in used) for ring in STANDARD_RINGS) if r),
        tuple(g for g in (tuple(p for p in group if p in used) for group in STANDARD_BARRIERS) if g),
        movement_phases={m: p for m, p in own.items() if p in used},
    )
    try:
        structure.validate(len(model.phases), model.tls_id)
    except ConfigError:
        return fallback
    if structure.runs(sequence if sequence is not None else range(len(model.phases))) is None:
        return fallback
    return structure
