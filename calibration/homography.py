"""Image-to-ground homography: pixels on the road plane to metres.

A plane-to-plane projective map H (3x3) estimated from 4 or more image/ground point pairs
(direct linear transform, least squares via OpenCV). Ground coordinates are metres in any
fixed road frame (e.g. x across the road, y along it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from phasewise_errors import ConfigError

Points = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Homography:
    """``to_ground(pixels) -> metres`` and back; ``matrix`` maps image to ground."""

    matrix: npt.NDArray[np.float64]

    @classmethod
    def from_points(cls, image_px: npt.ArrayLike, ground_m: npt.ArrayLike) -> Homography:
        img = np.asarray(image_px, dtype=np.float64).reshape(-1, 2)
        gnd = np.asarray(ground_m, dtype=np.float64).reshape(-1, 2)
        if len(img) != len(gnd):
            raise ConfigError(f"homography needs as many image points as ground points ({len(img)} vs {len(gnd)})")
        if len(img) < 4:
            raise ConfigError(f"homography needs at least 4 point pairs, got {len(img)}")
        for name, pts in (("image", img), ("ground", gnd)):
            if _max_triangle_area(pts) < 1e-6 * max(np.ptp(pts, axis=0).max(), 1.0) ** 2:
                raise ConfigError(f"homography {name} points are (nearly) collinear; pick 4 points spread over the road")
        matrix, _ = cv2.findHomography(img, gnd, 0)
        if matrix is None or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-12:
            raise ConfigError("homography from these point pairs is degenerate; check the point order")
        return cls(matrix)

    def to_ground(self, pixels: npt.ArrayLike) -> Points:
        """(N, 2) image pixels to (N, 2) ground metres."""
        return _apply(self.matrix, pixels)

    def to_image(self, ground_m: npt.ArrayLike) -> Points:
        """(N, 2) ground metres to (N, 2) image pixels."""
        return _apply(np.linalg.inv(self.matrix), ground_m)

    def distance_m(self, a_px: npt.ArrayLike, b_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Ground distance in metres between pixel points ``a`` and ``b`` (row by row)."""
        return np.linalg.norm(self.to_ground(a_px) - self.to_ground(b_px), axis=1)


def _apply(matrix: npt.NDArray[np.float64], pts: npt.ArrayLike) -> Points:
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    h = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ matrix.T
    return h[:, :2] / h[:, 2:3]


def _max_triangle_area(pts: Points) -> float:
    a = pts[:, None, None, :]
    b = pts[None, :, None, :]
    c = pts[None, None, :, :]
    cross = (b - a)[..., 0] * (c - a)[..., 1] - (b - a)[..., 1] * (c - a)[..., 0]
    return float(np.abs(cross).max() / 2)
