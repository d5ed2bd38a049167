"""Keep Ultralytics working where torchvision's compiled ops cannot load.

PyPI has no CPU build of torchvision: next to a CPU-only torch its ``_C.so`` fails to load
(it wants ``libc10_cuda.so``) and ``import torchvision`` raises ``RuntimeError``. Ultralytics
imports torchvision only to use ``torchvision.ops.nms``, and has its own pure-torch NMS. When
the real import fails we register a tiny stand-in module whose ``ops.nms`` is Ultralytics' own,
and log it once, so ``YOLO(...).predict`` gives the same boxes.
"""

from __future__ import annotations

import logging
import sys
import types

log = logging.getLogger(__name__)


def ensure_torchvision_importable() -> bool:
    """True if the real torchvision imports; else install the stand-in and return False."""
    try:
        import torchvision  # noqa: F401

        return True
    except (ImportError, RuntimeError, OSError) as exc:
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        from ultralytics.utils.nms import TorchNMS

        stub = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")
        ops.nms = TorchNMS.nms  # type: ignore[attr-defined]
        stub.ops = ops  # type: ignore[attr-defined]
        stub.__version__ = "0.0-phasewise-stub"  # type: ignore[attr-defined]
        sys.modules["torchvision"] = stub
        sys.modules["torchvision.ops"] = ops
        log.warning("torchvision unusable here (%s); Ultralytics uses its own NMS instead", exc)
        return False
