"""VHD (Microsoft Virtual Hard Disk 1.0): create, open, info, check, repair.

``create`` writes fixed (sparse, instant) or dynamic images; ``open_vhd`` returns a
BlockDevice (``FixedDevice`` or ``DynamicDevice``, each with its own ``resize``); ``info``
and ``check`` describe and validate an image without trusting it; ``repair`` makes the two
footers of a dynamic VHD agree. Opening any image file, whatever its container, is
``diskkit.image.open_image``.
"""

from .check import check, check_region
from .container import Probe, describe, info, open_found, open_vhd, probe, read_header
from .create import create, new_image, write_new
from .dynamic import DEFAULT_BLOCK_SIZE, DynamicDevice, DynamicHeader
from .fixed import FixedDevice
from .footer import Footer, size_warnings
from .repair import repair

__all__ = ["create", "new_image", "write_new", "open_vhd", "open_found", "probe", "Probe",
           "describe", "info", "check", "check_region", "repair", "read_header", "size_warnings",
           "DEFAULT_BLOCK_SIZE", "Footer", "DynamicHeader", "FixedDevice", "DynamicDevice"]
