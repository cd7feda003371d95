"""Windows driver packages: parse INFs, match them to a machine's devices, pack and export."""

from .export import export_commands, export_drivers
from .inf import InfFile, Model, Service, decode_inf, parse_inf
from .pack import pack
from .scan import Package, read_hwids, scan

__all__ = ["InfFile", "Model", "Package", "Service", "decode_inf", "export_commands",
           "export_drivers", "pack", "parse_inf", "read_hwids", "scan"]
