"""``ramos build ramos.toml``: the whole RAMOS path from one declarative recipe.

Steps run in order -- plan, VHD, driver pack, WIM apply (Linux, wimlib), deploy script,
boot loader config, ESP, firmware entry -- each only when its inputs changed since the last
run or its outputs are missing (fingerprints kept in ``<recipe>.state.json``). ``--dry-run``
says what would run. Relative paths are relative to the recipe's folder. See
fixtures/ramos.toml for every key.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass

from ..errors import DiskkitError, ImageIOError, NotFound, UsageError
from ..fileio import atomic_output
from ..units import parse_size

# section -> key -> (type, required)
SCHEMA = {
    "vhd": {"path": (str, True), "size": (str, True), "chain": (str, False),
            "preallocate": (bool, False), "ram": (str, False), "ssd_read": (str, False)},
    "drivers": {"source": (str, True), "out": (str, True), "hwids": (str, False),
                "only_matching": (bool, False), "boot_critical": (bool, False)},
    "windows": {"wim": (str, False), "index": (int, False), "windows_path": (str, False),
                "drivers": (str, False), "svbus": (str, False), "script": (str, False),
                "apply_on_linux": (bool, False)},
    "boot": {"vhd_path": (str, True), "title": (str, False), "config": (str, True)},
    "esp": {"target": (str, True), "size": (str, False), "loader": (str, False),
            "loader_path": (str, False), "removable": (bool, False), "add": (list, False),
            "grub_modules": (str, False)},
    "entry": {"label": (str, True), "out": (str, True), "platform": (str, False),
              "disk": (str, False), "part": (int, False)},
}


@dataclass
class Recipe:
    path: str
    data: dict

    def get(self, section: str, key: str, default=None):
        return self.data.get(section, {}).get(key, default)

    def file(self, section: str, key: str, default=None) -> str | None:
        """A path key resolved against the recipe's folder."""
        value = self.get(section, key, default)
        if value is None:
            return None
        return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)), value))


def load_recipe(path: str) -> Recipe:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such recipe") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ImageIOError(f"{path}: {exc.strerror or exc}") from None
    for section, body in data.items():
        if section not in SCHEMA or not isinstance(body, dict):
            raise UsageError(f"{path}: unknown section [{section}] (known: {', '.join(SCHEMA)})")
        for key, value in body.items():
            if key not in SCHEMA[section]:
                raise UsageError(f"{path}: [{section}] has no key {key!r} "
                                 f"(known: {', '.join(SCHEMA[section])})")
            kind = SCHEMA[section][key][0]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise UsageError(f"{path}: [{section}] {key} must be a {kind.__name__}")
        for key, (_, required) in SCHEMA[section].items():
            if required and key not in body:
                raise UsageError(f"{path}: [{section}] needs {key}")
    if "vhd" not in data:
        raise UsageError(f"{path}: a recipe needs a [vhd] section (path, size, chain)")
    return Recipe(path, data)


def _fingerprint(params: dict, files: list[str]) -> str:
    """Parameters plus size and mtime of every input file: what makes a step's result."""
    stats = []
    for path in files:
        st = os.stat(path) if path and os.path.isfile(path) else None
        stats.append([path, st.st_size, st.st_mtime_ns] if st else [path, None])
    blob = json.dumps([sorted(params.items()), stats], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class BuildFailed(DiskkitError):
    """A step failed; ``results`` holds the steps before it (their outputs are kept)."""

    def __init__(self, step: str, error: DiskkitError, results: list[dict]):
        made = [r["step"] for r in results if r["status"] in ("ran", "skipped")]
        super().__init__(f"step {step} failed: {error}"
                         + (f" (made before it and kept: {', '.join(made)}; a rerun continues "
                            f"from {step})" if made else ""))
        self.exit_code = error.exit_code
        self.results = results


class _Runner:
    def __init__(self, recipe: Recipe, dry_run: bool, echo=None):
        self.recipe = recipe
        self.dry_run = dry_run
        self.echo = echo or (lambda line: None)
        self.state_path = os.path.abspath(recipe.path) + ".state.json"
        self.state: dict[str, dict] = {}
        if os.path.exists(self.state_path):
            try:
                with open(self.state_path, encoding="utf-8") as fh:
                    self.state = json.load(fh)
            except (OSError, ValueError):
                self.state = {}  # a damaged state file only costs a rerun
        self.results: list[dict] = []

    def run_id(self, name: str):
        """Changes every time step ``name`` really runs: later steps depend on it."""
        return self.state.get(name, {}).get("run")

    def step(self, name: str, what: str, params: dict, files: list[str], outputs: list[str],
             action) -> None:
        recorded = self.state.get(name, {})
        done = recorded.get("fingerprint") == _fingerprint(params, files) and \
            all(os.path.exists(o) for o in outputs)
        if self.dry_run:
            self.results.append({"step": name, "status": "done" if done else "would run",
                                 "detail": what})
            if not done:  # so the steps depending on this one would run too
                self.state[name] = {"run": "pending"}
            return
        if done:
            self._record(name, "skipped", f"{what} (done)")
            return
        self.echo(f"[{name}] {what} ...")
        try:
            detail = action() or what
        except DiskkitError as exc:
            raise BuildFailed(name, exc, self.results) from None
        # fingerprint after the action: a step may create its own input (a built loader)
        self.state[name] = {"fingerprint": _fingerprint(params, files), "run": time.time_ns()}
        self._save()
        self._record(name, "ran", detail)

    def note(self, name: str, status: str, detail: str) -> None:
        self._record(name, status, detail)

    def _record(self, name: str, status: str, detail: str) -> None:
        self.results.append({"step": name, "status": status, "detail": detail})
        if not self.dry_run:
            self.echo(f"[{name}] {status}: {detail}")

    def _save(self) -> None:
        with atomic_output(self.state_path, force=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.state, fh, indent=1, sort_keys=True)


def _write_text(path: str, text: str) -> None:
    with atomic_output(path, force=True) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def build(recipe: Recipe, dry_run: bool = False, platform: str = sys.platform,
          echo=None) -> list[dict]:
    """Run (or with ``dry_run`` list) every step the recipe asks for; return one dict per step.

    Every input is checked before anything is written. ``echo(line)`` hears each step as it
    starts and ends; a failing step raises ``BuildFailed`` naming what was made before it.
    """
    r = _Runner(recipe, dry_run, echo)
    vhd = recipe.file("vhd", "path")
    size = parse_size(recipe.get("vhd", "size"))
    chain = recipe.get("vhd", "chain", "grub2-map")
    apply = _applies_on_linux(recipe, platform)
    request = _deploy_request(recipe, vhd, chain, platform) if "windows" in recipe.data else None
    check_inputs(recipe, request, apply, platform)
    _plan(r, recipe, size, chain)
    _init(r, recipe, vhd, size, chain)
    if "drivers" in recipe.data:
        _pack(r, recipe)
    applied = _apply(r, recipe, request, apply, platform)
    if request:
        _deploy_script(r, recipe, request, applied, platform)
    if "boot" in recipe.data:
        _boot_config(r, recipe, vhd, chain)
    if "esp" in recipe.data:
        _esp(r, recipe, chain)
    if "entry" in recipe.data:
        _entry(r, recipe)
    return r.results


def _plan(r: _Runner, recipe: Recipe, size: int, chain: str) -> None:
    from .plan import make_plan, parse_read_speed

    ram = recipe.get("vhd", "ram")
    plan = make_plan(size, parse_size(ram) if ram else size + 8 * 1024**3,
                     parse_read_speed(recipe.get("vhd", "ssd_read", "1GB/s")), chain)
    detail = (f"{chain}: Windows partition at byte {plan.layout.windows.start}, "
              f"load {plan.load_seconds:.1f} s")
    if ram:
        detail += f", RAM left {plan.ram_left // 1024**2} MiB"
    r.note("plan", "info", "; ".join([detail, *plan.warnings, *plan.notes]))


def _init(r: _Runner, recipe: Recipe, vhd: str, size: int, chain: str) -> None:
    from .layout import init, layout_for

    layout_for(chain, size)  # a bad size fails before anything is written
    prealloc = recipe.get("vhd", "preallocate")

    def action():
        if os.path.exists(vhd):
            _check_existing(vhd, size, chain)
            return f"{vhd} exists with the {chain} layout; kept"
        result = init(vhd, size, chain, prealloc)
        return f"created {vhd} ({'NTFS formatted' if result['ntfs_formatted'] else 'NTFS left for Windows'})"

    r.step("vhd", f"fixed VHD {vhd}, {size} bytes, {chain} layout",
           {"path": vhd, "size": size, "chain": chain, "preallocate": prealloc}, [], [vhd], action)


def _check_existing(vhd: str, size: int, chain: str) -> None:
    """An existing VHD is only reused when it has exactly the planned layout."""
    from ..image import open_image
    from ..part import read_table
    from .layout import layout_for

    want = layout_for(chain, size)
    with open_image(vhd) as dev:
        table = read_table(dev) if dev.size == size else None
    got = [(p.start, p.size) for p in table.partitions] if table else None
    if got != [(p.start, p.size) for p in want.partitions]:
        raise DiskkitError(f"{vhd}: exists but is not a {size}-byte {chain} VHD from ramos init; "
                           "move it away or fix [vhd] in the recipe")


def _pack(r: _Runner, recipe: Recipe) -> None:
    from ..drivers import pack, read_hwids

    source, out = recipe.file("drivers", "source"), recipe.file("drivers", "out")
    hwids = recipe.file("drivers", "hwids")
    only, boot = recipe.get("drivers", "only_matching", False), recipe.get("drivers", "boot_critical", False)

    def action():
        summary = pack(source, out, read_hwids(hwids) if hwids else None, only, boot, force=True)
        return (f"packed {summary['packages_packed']} of {summary['packages_found']} package(s) "
                f"into {out}, saved {summary['size_saved']} bytes")

    r.step("drivers", f"pack drivers {source} -> {out}",
           {"source": source, "out": out, "only": only, "boot": boot},
           [hwids] if hwids else [], [os.path.join(out, "manifest.json")], action)


def _applies_on_linux(recipe: Recipe, platform: str) -> bool:
    """The WIM is applied here on Linux when the recipe names one and wimlib is installed."""
    from . import linux

    return bool(recipe.get("windows", "wim") and recipe.get("windows", "apply_on_linux", True)
                and platform != "win32" and linux.tool("wimapply"))


def _local_or_windows(recipe: Recipe, key: str) -> str | None:
    """A [windows] path: a Windows path as written, else resolved against the recipe's folder."""
    from ..fileio import is_windows_path

    value = recipe.get("windows", key)
    return value if value is None or is_windows_path(value) else recipe.file("windows", key)


def _deploy_request(recipe: Recipe, vhd: str, chain: str, platform: str):
    from .deploy import DeployRequest

    here = platform == "win32"  # built on Windows: this machine's paths are the script's paths
    drivers = _local_or_windows(recipe, "drivers")
    if drivers is None and "drivers" in recipe.data:
        drivers = recipe.file("drivers", "out")  # the pack; on Linux it moves with the VHD
    return DeployRequest(vhd=vhd, wim=recipe.file("windows", "wim", "install.wim"),
                         index=recipe.get("windows", "index", 1), chain=chain,
                         drivers=drivers, svbus=_local_or_windows(recipe, "svbus"),
                         windows_path=None if here else recipe.get("windows", "windows_path"))


def check_inputs(recipe: Recipe, request, apply: bool, platform: str) -> None:
    """Every input the steps will read, checked before the first write; all problems at once."""
    from ..boot import esp
    from ..boot.quoting import normalize_file_path
    from ..fileio import is_windows_path
    from . import deploy
    from .plan import parse_read_speed

    problems = []

    def check(what: str, test) -> None:
        try:
            test()
        except DiskkitError as exc:
            problems.append(f"{what}: {exc}")

    def need_file(what: str, path: str | None, folder: bool = False) -> None:
        if path and not (os.path.isdir(path) if folder else os.path.isfile(path)):
            problems.append(f"{what} {path}: no such {'folder' if folder else 'file'}")

    check("[vhd] ram", lambda: recipe.get("vhd", "ram") and parse_size(recipe.get("vhd", "ram")))
    check("[vhd] ssd_read", lambda: parse_read_speed(recipe.get("vhd", "ssd_read", "1GB/s")))
    if "drivers" in recipe.data:
        need_file("[drivers] source", recipe.file("drivers", "source"), folder=True)
        need_file("[drivers] hwids", recipe.file("drivers", "hwids"))
    if request:
        if apply or platform == "win32":
            check("[windows] wim", lambda: deploy.check_index(request.wim, request.index,
                                                              platform, must_exist=True))
        elif os.path.isfile(request.wim):
            check("[windows] wim", lambda: deploy.check_index(request.wim, request.index, platform))
        if request.svbus and not is_windows_path(request.svbus):
            need_file("[windows] svbus", request.svbus, folder=True)
        check("[windows]", lambda: deploy.options(request, applied=apply,
                                                  wim=_script_wim(request, apply, platform)[0],
                                                  platform=platform))
    if "boot" in recipe.data:
        check("[boot] vhd_path", lambda: normalize_file_path(recipe.get("boot", "vhd_path"),
                                                             "vhd_path"))
    loader = recipe.get("esp", "loader")
    if loader == "grub-mkimage":
        from . import linux

        if not linux.tool("grub-mkimage"):
            problems.append("[esp] loader grub-mkimage: not installed (Debian: grub-common)")
    elif loader:
        need_file("[esp] loader", recipe.file("esp", "loader"))
    for spec in recipe.get("esp", "add", []):
        source = _resolve_add(recipe, spec).rpartition("=")[0] or spec
        if not os.path.exists(source):  # a file or a whole folder
            problems.append(f"[esp] add {source}: no such file or folder")
        else:
            check("[esp] add", lambda: esp.check_sizes([esp.parse_add(_resolve_add(recipe,
                                                                                   spec))]))
    if "entry" in recipe.data and recipe.get("entry", "platform", "windows") == "linux" and \
            not (recipe.get("entry", "disk") and recipe.get("entry", "part")):
        problems.append("[entry] platform linux needs disk and part (the disk holding the ESP)")
    if problems:
        raise UsageError(f"{recipe.path}: " + "; ".join(problems))


def _apply(r: _Runner, recipe: Recipe, request, apply: bool, platform: str) -> bool:
    """Apply the WIM on Linux when wimlib is there; True if the image holds Windows now."""
    from . import deploy

    if not request or not recipe.get("windows", "wim") or \
            not recipe.get("windows", "apply_on_linux", True):
        return False
    if not apply:
        r.note("apply", "windows", "the WIM is applied by the deploy script on Windows"
               + ("" if platform == "win32" else " (wimapply not installed)"))
        return False
    r.step("apply", f"wimapply {request.wim} image {request.index} into {request.vhd}",
           {"index": request.index, "vhd": r.run_id("vhd")}, [request.wim], [request.vhd],
           lambda: "; ".join(deploy.apply_on_linux(request)["done"]))
    return True


def _script_wim(request, applied: bool, platform: str) -> tuple[str | None, list[str]]:
    """The WIM as the Windows script names it, and a warning when that is a guess."""
    from ..fileio import is_windows_path

    if applied or platform == "win32" or is_windows_path(request.wim):
        return None, []
    try:
        return request.on_windows(request.wim, "[windows] wim"), []
    except UsageError:
        name = os.path.basename(request.wim)
        return name, [f"the deploy script names the WIM as {name} (the script's own folder on "
                      "Windows): copy it there, or give [windows] wim as a Windows path"]


def _deploy_script(r: _Runner, recipe: Recipe, request, applied: bool, platform: str) -> None:
    from . import deploy

    vhd = request.vhd
    out = recipe.file("windows", "script", deploy.default_script_path(vhd))
    wim, notes = _script_wim(request, applied, platform)
    text = deploy.script_text(request, applied, wim, platform)
    notes += deploy.warnings(request)
    r.step("deploy-script", f"Windows deploy script {out}", {"text": text}, [], [out],
           lambda: deploy.write_script(out, text) or f"wrote {out} (run on Windows as "
           "administrator)" + "".join(f"; warning: {n}" for n in notes))


def _boot_config(r: _Runner, recipe: Recipe, vhd: str, chain: str) -> None:
    from ..boot import chains
    from ..boot.target import read_facts

    out = recipe.file("boot", "config")
    vhd_path = recipe.get("boot", "vhd_path")
    title = recipe.get("boot", "title", "RAMOS")

    grub_version = _grub_version(recipe)

    def action():
        target = chains.BootTarget.make(read_facts(vhd), vhd_path, title)
        rendered = chains.render(chain, target, grub_version=grub_version)
        _write_text(out, rendered.text)
        return f"wrote {out} ({chain}, read by the loader as {rendered.filename})" + \
            "".join(f"; warning: {w}" for w in rendered.warnings)

    r.step("boot-config", f"{chain} config {out}",
           {"vhd": r.run_id("vhd"), "vhd_path": vhd_path, "title": title, "chain": chain,
            "grub_version": grub_version}, [],
           [out], action)


def _grub_version(recipe: Recipe) -> tuple[int, int] | None:
    """The version of the GRUB the [esp] step builds (the config's form depends on it)."""
    if recipe.get("esp", "loader") != "grub-mkimage":
        return None
    from ..boot.grubimage import read_module_dir

    try:
        return read_module_dir(recipe.file("esp", "grub_modules")).version
    except NotFound:  # the [esp] step says what is missing
        return None


def _esp(r: _Runner, recipe: Recipe, chain: str) -> None:
    from ..boot import esp
    from ..boot.chains import get_chain

    target = recipe.file("esp", "target")
    loader_path = recipe.get("esp", "loader_path", esp.DEFAULT_LOADER_PATH)
    loader = recipe.get("esp", "loader")
    config = recipe.file("boot", "config")
    removable = recipe.get("esp", "removable", False)
    adds = [esp.parse_add(_resolve_add(recipe, spec)) for spec in recipe.get("esp", "add", [])]
    built_loader = os.path.join(os.path.dirname(target), "grubx64.efi") \
        if loader == "grub-mkimage" else recipe.file("esp", "loader")

    def action():
        notes = []
        if loader == "grub-mkimage":
            from ..boot import grubimage

            prefix = os.path.dirname(loader_path.replace("\\", "/"))
            grubimage.build(built_loader, prefix, chain, recipe.file("esp", "grub_modules"))
        chain_facts = get_chain(chain)
        placements = esp.plan(built_loader, loader_path, removable, config, adds, chain_facts) \
            if built_loader else list(adds)
        if os.path.exists(target):  # a mounted ESP folder or an existing image
            done = esp.build(target, placements, chain=chain_facts)
        else:
            size = parse_size(recipe.get("esp", "size", "256M"))
            done = esp.create(target, size, placements, chain=chain_facts)
        notes += done.warnings
        return f"ESP {target}: " + ", ".join(done.written) + "".join(f"; warning: {n}" for n in notes)

    if not loader:
        r.note("esp", "skipped", "no [esp] loader: nothing to place")
        return
    r.step("esp", f"loader {loader} at {loader_path} on {target}",
           {"loader_path": loader_path, "removable": removable, "chain": chain,
            "adds": [a.source + "=" + a.dest for a in adds], "config": r.run_id("boot-config")},
           [built_loader, *(a.source for a in adds)], [target], action)


def _resolve_add(recipe: Recipe, spec: str) -> str:
    src, sep, dest = spec.rpartition("=")
    if not sep:
        return spec
    base = os.path.dirname(os.path.abspath(recipe.path))
    return os.path.normpath(os.path.join(base, src)) + "=" + dest


def _entry(r: _Runner, recipe: Recipe) -> None:
    from ..boot import firmware

    out = recipe.file("entry", "out")
    platform = recipe.get("entry", "platform", "windows")
    plan = firmware.entry_commands(recipe.get("esp", "loader_path", "/EFI/ramos/grubx64.efi"),
                                   recipe.get("entry", "label"), platform,
                                   recipe.get("entry", "disk"), recipe.get("entry", "part"))
    comment = "rem" if platform == "windows" else "#"
    text = "\n".join([plan.script(), f"{comment} undo: {plan.undo}", ""])
    if platform == "windows":
        text = text.replace("\n", "\r\n")
    r.step("firmware-entry", f"firmware boot entry commands {out} (run them yourself, "
           "or diskkit boot entry --apply)", {"text": text}, [], [out],
           lambda: _write_text(out, text) or f"wrote {out}")
