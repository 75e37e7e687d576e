"""Image-forgery data (Table 3): CASIA v2 read as shipped (:mod:`.casia2`), where the
patches of a tampered image are cut (:mod:`.contours`), the stage-1 training pairs
streamed from the images (:mod:`.pairs`), and the offline spliced demo set in the CASIA
layout (:mod:`.demo`).
"""

from .casia2 import Casia2, Pair, scan
from .contours import ContourPatches, NoUsableDifference, closest_candidate, contour_patches
from .pairs import SiamesePairs

__all__ = ["Casia2", "ContourPatches", "NoUsableDifference", "Pair", "SiamesePairs",
           "closest_candidate", "contour_patches", "scan"]
