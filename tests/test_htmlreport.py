"""`info --html` and `ramos doctor --html` pages, rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from support import diskkit

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--enable-logging=stderr", "--v=0", "--window-size=1200,900"]


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium not installed (Debian package chromium, in .ci/run)")
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "win.vhd"
    diskkit("ramos", "init", path, "--size", "300M", "--chain", "grub2-map", "--no-ntfs")
    return path


def test_console_errors_are_seen(tmp_path):
    """The console capture works: a page that logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('diskkit-probe');</script></body></html>")
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert any("diskkit-probe" in m for m in console_messages(proc.stderr)), proc.stderr[-2000:]


@pytest.mark.parametrize("command", ["info", "doctor", "doctor-zh"])
def test_page_renders_to_scale(tmp_path, image, command):
    out = tmp_path / "page.html"
    if command == "info":
        diskkit("info", image, "--html", out)
    else:
        lang = ["--lang", "zh-CN"] if command == "doctor-zh" else []
        proc = diskkit("ramos", "doctor", image, "--chain", "grub2-map", "--html", out, *lang,
                       check=False)
        assert proc.returncode in (0, 1), proc.stderr
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)  # nothing from the network
    proc = chromium(tmp_path, "--dump-dom", out.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_messages(proc.stderr) == []
    dom = proc.stdout
    bar = float(re.search(r'class="bar" data-drawn-width="([0-9.]+)"', dom).group(1))
    segs = [(int(s), float(w)) for s, w in
            re.findall(r'data-size="(\d+)"[^>]*data-drawn-width="([0-9.]+)"', dom)]
    table = diskkit("part", "show", image, "--json").stdout
    disk = int(re.search(r'"disk_size": (\d+)', table).group(1))
    assert sum(s for s, _ in segs) == disk
    for size, width in segs:  # each segment drawn at its share of the bar, within a pixel
        assert abs(width - bar * size / disk) <= 1.0, (size, width, bar)
    starts = [int(x) for x in re.findall(r'data-start="(\d+)" data-size="\d+" data-index', dom)]
    sizes = {int(m[0]): int(m[1]) for m in
             re.findall(r'"start": (\d+),\s*"end": \d+,\s*"size": (\d+)', table)}
    assert starts and all(s in sizes for s in starts)  # partitions where the table has them
    if command == "doctor":
        assert "Boot layers" in dom and "ramos doctor:" in dom
    if command == "doctor-zh":  # the page in the user's language
        assert 'lang="zh-CN"' in dom and "两层引导" in dom and "项失败" in dom
    shot = tmp_path / "page.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", out.as_uri())
    assert proc.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
