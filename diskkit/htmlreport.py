"""One self-contained HTML page picturing a disk image: the partition bar, the boot layers, a checklist.

Pure: ``info`` (what ``diskkit info --json`` prints) and optionally a doctor report in, a
string out. The bar draws every partition to scale, like DiskGenius's, with the used part of
each filesystem filled in; free gaps are drawn too, so the widths add up to the disk. No
network: styles are inline, the one script only measures the drawn widths into ``data-``
attributes (tests read them back from the rendered page).
"""

from __future__ import annotations

from html import escape

from .i18n import language, tr
from .units import format_size

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
.bar{display:flex;width:100%;height:64px;outline:1px solid #555}
.seg{position:relative;height:100%;box-sizing:border-box;border-right:1px solid #555;
 overflow:hidden;font-size:11px;min-width:0}
.seg .used{position:absolute;left:0;top:0;bottom:0;opacity:.55}
.seg .label{position:relative;padding:3px;white-space:nowrap}
.free{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#ddd 4px,#ddd 8px)}
.fat{background:#cfe3ff}.fat .used{background:#3b82f6}
.ntfs{background:#ffe1c4}.ntfs .used{background:#f97316}
.other{background:#e5e7eb}.other .used{background:#6b7280}
.layers{display:flex;gap:12px;align-items:stretch;flex-wrap:wrap}
.layer{border:2px solid #555;border-radius:6px;padding:8px 12px;min-width:200px}
.layer h3{margin:0 0 6px;font-size:14px}
.arrow{align-self:center;font-size:24px}
table{border-collapse:collapse;margin-top:8px} td,th{padding:3px 8px;border-bottom:1px solid #ddd;
 text-align:left;vertical-align:top;font-size:13px}
.PASS{color:#166534}.WARN{color:#a16207}.FAIL{color:#b91c1c;font-weight:bold}.INFO{color:#555}
code{font-size:12px}
"""

MEASURE = """
document.querySelectorAll('.seg').forEach(function(s){
  s.setAttribute('data-drawn-width', s.getBoundingClientRect().width.toFixed(3));});
document.querySelector('.bar').setAttribute('data-drawn-width',
  document.querySelector('.bar').getBoundingClientRect().width.toFixed(3));
"""


def _fs_kind(fs: dict | None) -> str:
    kind = (fs or {}).get("type") or ""
    return "fat" if kind.startswith("fat") else "ntfs" if kind == "ntfs" else "other"


def _used_fraction(fs: dict | None) -> float | None:
    if not fs:
        return None
    total, free = fs.get("total_bytes"), fs.get("free_bytes")
    if total and free is not None:
        return max(0.0, min(1.0, (total - free) / total))
    if fs.get("used_bytes") is not None and fs.get("size"):
        return max(0.0, min(1.0, fs["used_bytes"] / fs["size"]))
    return None


def segments(info: dict) -> list[dict]:
    """The bar from left to right: partitions and the free gaps between them (bytes)."""
    size = info["container"]["virtual_size"]
    out, at = [], 0
    for p in sorted(info.get("partitions", []), key=lambda p: p["start"]):
        if p["start"] > at:
            out.append({"kind": "free", "start": at, "size": p["start"] - at})
        out.append({"kind": "part", "start": p["start"], "size": p["size"], "part": p})
        at = max(at, p["start"] + p["size"])
    if at < size:
        out.append({"kind": "free", "start": at, "size": size - at})
    return out


def _bar(info: dict) -> str:
    size = info["container"]["virtual_size"] or 1
    cells = []
    for seg in segments(info):
        width = seg["size"] / size * 100
        attrs = f'style="width:{width:.6f}%" data-start="{seg["start"]}" data-size="{seg["size"]}"'
        if seg["kind"] == "free":
            free = escape(tr("free {size}", size=format_size(seg["size"])))
            cells.append(f'<div class="seg free" {attrs} title="{free}"></div>')
            continue
        p, fs = seg["part"], seg["part"].get("filesystem")
        used = _used_fraction(fs)
        name = p.get("name") or p.get("type_name") or p.get("type") or ""
        text = f'{p["index"]}: {(fs or {}).get("type", "-")} {format_size(p["size"])}'
        fill = f'<div class="used" style="width:{used * 100:.3f}%"></div>' if used is not None else ""
        title = escape(tr("partition {index} {name}, {size} at byte {start}", index=p["index"],
                          name=name, size=format_size(p["size"]), start=p["start"])
                       + (tr(", {used} used", used=f"{used:.0%}") if used is not None else ""))
        cells.append(f'<div class="seg {_fs_kind(fs)}" {attrs} data-index="{p["index"]}" '
                     f'title="{title}">{fill}<div class="label">{escape(text)}</div></div>')
    return f'<div class="bar">{"".join(cells)}</div>'


def _partition_table(info: dict) -> str:
    rows = []
    for p in info.get("partitions", []):
        fs = p.get("filesystem") or {}
        used = _used_fraction(fs)
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in (
            p["index"], format_size(p["start"]), format_size(p["size"]),
            p.get("type_name") or p.get("type") or "", p.get("name", ""), fs.get("type", "-"),
            fs.get("label", ""), f"{used:.0%}" if used is not None else "-")) + "</tr>")
    head = "".join(f"<th>{escape(h)}</th>" for h in (
        "#", tr("start"), tr("size"), tr("type"), tr("name"), tr("filesystem"), tr("label"),
        tr("used")))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _layers(doctor: dict) -> str:
    vhd = doctor.get("facts", {}).get("vhd", {})
    chain = doctor.get("chain", "")
    default = doctor.get("facts", {}).get("default_entry") or {}
    win = doctor.get("facts", {}).get("windows") or {}
    arrow = " &rarr; "
    outer_body = arrow.join([
        escape(tr("firmware")), tr("loader of {chain}", chain=f"<b>{escape(chain)}</b>"),
        escape(tr("its config")),
        tr("copies {image} into RAM", image=f"<code>{escape(vhd.get('image', ''))}</code>")])
    outer_title = escape(tr("Outer layer: the machine's ESP"))
    outer = f'<div class="layer"><h3>{outer_title}</h3>{outer_body}</div>'
    if vhd.get("esp_index"):
        entry = default.get("description") or default.get("guid") or "?"
        inner_body = arrow.join([
            escape(tr("VHD's ESP (partition {index})", index=vhd.get("esp_index"))),
            "<code>\\EFI\\BOOT\\BOOTX64.EFI</code>",
            escape(tr("BCD default {entry}", entry=entry))])
    else:
        inner_body = escape(tr("the boot manager (outside the VHD) opens the RAM disk at the "
                               "Windows offset"))
    inner = (f'<div class="layer"><h3>{escape(tr("Inner layer: inside the VHD"))}</h3>'
             f"{inner_body}{arrow}"
             + escape(tr("Windows partition {index} at byte {offset}",
                         index=vhd.get("windows_index"), offset=vhd.get("windows_offset")))
             + "</div>")
    windows = (f'<div class="layer"><h3>Windows</h3>{escape(win.get("name") or tr("not read"))}'
               "</div>")
    return f'<div class="layers">{outer}<div class="arrow">&rarr;</div>{inner}' \
           f'<div class="arrow">&rarr;</div>{windows}</div>'


def _checklist(doctor: dict) -> str:
    titles, statuses = doctor.get("section_titles", {}), doctor.get("status_names", {})
    rows = []
    for c in doctor["checks"]:
        fix = f"<br><code>{escape(c['fix'])}</code>" if c.get("fix") and c["status"] in (
            "WARN", "FAIL") else ""
        status, section = statuses.get(c["status"], c["status"]), titles.get(c["section"],
                                                                             c["section"])
        rows.append(f'<tr><td class="{c["status"]}">{escape(status)}</td>'
                    f"<td>{escape(section)}</td>"
                    f"<td>{escape(c['why'])}{fix}</td></tr>")
    return (f"<table><tr><th></th><th>{escape(tr('section'))}</th>"
            f"<th>{escape(tr('finding'))}</th></tr>{''.join(rows)}</table>")


def _with_ntfs_usage(info: dict, doctor: dict) -> dict:
    """``info`` with the Windows partition's used space that doctor read from NTFS."""
    usage = doctor.get("facts", {}).get("ntfs")
    index = doctor.get("facts", {}).get("vhd", {}).get("windows_index")
    if not usage or index is None:
        return info
    parts = []
    for p in info.get("partitions", []):
        if p["index"] == index and p.get("filesystem") and "free_bytes" not in p["filesystem"]:
            fs = {**p["filesystem"], "total_bytes": usage["total_bytes"],
                  "free_bytes": usage["total_bytes"] - usage["used_bytes"]}
            p = {**p, "filesystem": fs}
        parts.append(p)
    return {**info, "partitions": parts}


def page(info: dict, doctor: dict | None = None) -> str:
    """The whole page for ``info`` (and a doctor report)."""
    if doctor:
        info = _with_ntfs_usage(info, doctor)
    c = info["container"]
    title = tr("{path}: {container} image, {size}", path=info["path"],
               container=c["container"], size=format_size(c["virtual_size"]))
    parts = [f"<h1>{escape(title)}</h1>", _bar(info), _partition_table(info)]
    if info.get("warnings"):
        parts.append(f"<h2>{escape(tr('Warnings'))}</h2><ul>" + "".join(
            f"<li>{escape(w)}</li>" for w in info["warnings"]) + "</ul>")
    if doctor:
        parts += [f"<h2>{escape(tr('Boot layers'))}</h2>", _layers(doctor),
                  f"<h2>ramos doctor: {escape(doctor['summary'])}</h2>", _checklist(doctor)]
    return (f"<!DOCTYPE html><html lang=\"{language()}\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            + "".join(parts) + f"<script>{MEASURE}</script></body></html>")


def write_page(path: str, html: str, force: bool = True) -> None:
    from .fileio import atomic_output

    with atomic_output(path, force) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(html)
