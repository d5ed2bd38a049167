"""Room in an intersection's exits, as the cameras see it: no green into a full exit.

A movement leaves the junction by an exit edge. Where that road leads to the approach of
another signal (a :class:`~optimizer.corridor.CorridorLink` found by
:func:`optimizer.corridor_network.find_links`), the queue standing at that signal can reach
back to this junction; a green released into it puts vehicles into the junction box that
cannot leave, and they block every movement crossing their path (gridlock).

For each such exit (:class:`ExitLink`):

* **storage**, per lane: the road from the exit to the next stop line (``distance_m``, exit
  edge to the downstream stop line) over the jam spacing
  (:data:`optimizer.storage.JAM_SPACING_M`, 7.5 m), as the optimizer's storage constraint;
* **occupancy**: the longest lane queue at the downstream stop line, as the policy already
  observes it there (stopped vehicles the camera sees, or the estimator's queue where it
  spills back beyond the view), plus the vehicles standing in this junction's box on lanes
  that lead into the exit (they will take room there first);
* **room** = storage - occupancy (vehicles per lane). A link into an exit with less than
  ``min_room_veh`` of room is not released: its share of a lane's demand does not count for
  any phase (:mod:`controllers.tactical`) until the downstream queue moves.

Exits that lead nowhere a camera watches (out of the network, or past another junction
than a signal's approach) always have room: nothing is known to fill them.

Example::

    exits = ExitLinks(models, links)               # links: find_links(net_file, models)
    room = exits.room_veh(queue_by_lane, in_box_by_lane)    # (tls, exit edge) -> vehicles
    full = exits.full_exits("J0", room, min_room_veh=2.0)  # exit edges of J0 without room
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optimizer.corridor import CorridorLink
from optimizer.intersection import IntersectionModel
from optimizer.storage import JAM_SPACING_M


def edge_of_lane(lane_id: str) -> str:
    """The edge id of a SUMO lane id (``"<edge>_<index>"``)."""
    return lane_id.rsplit("_", 1)[0]


@dataclass(frozen=True)
class ExitLink:
    """An exit of intersection ``tls`` that feeds the ``approach`` of signal ``downstream``.

    ``storage_veh``: vehicles one lane of the road holds between the exit and the downstream
    stop line; ``downstream_lanes`` the approach's stop-line lanes (the camera's lanes there);
    ``feeding_lanes`` this intersection's incoming lanes with a link into the exit.
    """

    tls: str
    exit_edge: str
    downstream: str
    approach: str
    storage_veh: float
    downstream_lanes: tuple[str, ...]
    feeding_lanes: tuple[str, ...]


class ExitLinks:
    """Every exit of the controlled intersections that feeds another signal's approach."""

    def __init__(self, models: Mapping[str, IntersectionModel], links: Sequence[CorridorLink]) -> None:
        exits: list[ExitLink] = []
        for link in links:
            up, down = models.get(link.upstream), models.get(link.downstream)
            if up is None or down is None or not link.exit_edge or link.distance_m <= 0.0:
                continue
            downstream_lanes = tuple(dict.fromkeys(sl.from_lane for sl in down.links if sl.approach == link.approach))
            feeding = tuple(dict.fromkeys(sl.from_lane for sl in up.links
                                          if edge_of_lane(sl.to_lane) == link.exit_edge))
            if downstream_lanes and feeding:
                exits.append(ExitLink(link.upstream, link.exit_edge, link.downstream, link.approach,
                                      link.distance_m / JAM_SPACING_M, downstream_lanes, feeding))
        self.exits = tuple(exits)

    def __len__(self) -> int:
        return len(self.exits)

    def room_veh(self, queue_by_lane: Mapping[str, float],
                 in_box_by_lane: Mapping[str, float] | None = None) -> dict[tuple[str, str], float]:
        """Room per exit, ``(tls, exit edge) -> vehicles per lane``.

        ``queue_by_lane``: the queue (vehicles) at every watched stop-line lane; a lane not in
        it (its camera out, or not watched) counts as empty. ``in_box_by_lane``: vehicles
        standing in the junction box, by the incoming lane they came from.
        """
        in_box = in_box_by_lane or {}
        room: dict[tuple[str, str], float] = {}
        for ex in self.exits:
            queue = max((queue_by_lane.get(lane, 0.0) for lane in ex.downstream_lanes), default=0.0)
            standing = sum(in_box.get(lane, 0.0) for lane in ex.feeding_lanes)
            key = (ex.tls, ex.exit_edge)
            # an exit that branches to two signals is as full as its fuller branch
            room[key] = min(room.get(key, float("inf")), ex.storage_veh - queue - standing)
        return room

    def full_exits(self, tls: str, room: Mapping[tuple[str, str], float], min_room_veh: float) -> frozenset[str]:
        """Exit edges of ``tls`` with less than ``min_room_veh`` of room."""
        return frozenset(ex.exit_edge for ex in self.exits
                         if ex.tls == tls and room.get((tls, ex.exit_edge), float("inf")) < min_room_veh)


__all__ = ["ExitLink", "ExitLinks", "edge_of_lane"]
