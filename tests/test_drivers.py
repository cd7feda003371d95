"""INF parsing (field by field on fixtures in three encodings), scan, hwid match, pack, export."""

import json
import os
import shutil
import types

import pytest
from hypothesis import given, settings, strategies as st

from diskkit.drivers import export_commands, export_drivers, pack, parse_inf, read_hwids, scan
from diskkit.drivers.inf import decode_inf, parse_sections
from diskkit.errors import AlreadyExists, CorruptImage, DiskkitError, Unsupported, UsageError
from support import diskkit

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "drivers")
STOR = os.path.join(FIX, "contstor.inf_amd64_0123456789abcdef", "contstor.inf")
NET = os.path.join(FIX, "fabnet.inf_amd64_fedcba9876543210", "fabnet.inf")
USB = os.path.join(FIX, "northwind.inf_x86_00112233aabbccdd", "northwind.inf")


def load(path, **kw):
    with open(path, "rb") as fh:
        return parse_inf(fh.read(), **kw)


def test_utf16_inf_every_field():
    with open(STOR, "rb") as fh:
        assert fh.read(2) == b"\xff\xfe"
    inf = load(STOR)
    assert inf.signature == "$WINDOWS NT$"
    assert inf.driver_class == "SCSIAdapter"
    assert inf.class_guid == "{4d36e97b-e325-11ce-bfc1-08002be10318}"
    assert inf.provider == "Contoso, Ltd."  # quoted string with a comma, from [Strings]
    assert inf.driver_date == "2023-07-04"
    assert inf.driver_version == "10.0.22621.1"  # the trailing comment is not part of it
    assert inf.catalog_file == "storx64.cat"  # CatalogFile.NTamd64 wins over CatalogFile
    assert inf.manufacturers == ["Contoso"]
    assert inf.architectures == ["amd64", "arm64", "x86"]
    # Windows 10/11 x64 uses the most specific decoration that applies: NTamd64.10.0...17763
    assert inf.models_sections == ["Contoso.NTamd64.10.0...17763"]
    first, second = inf.models
    assert first.description == "Contoso NVMe RAM Controller (100% virtual)"  # %% -> %
    assert first.install_section == "ContosoStor_Inst"
    assert first.hardware_id == r"PCI\VEN_1AF4&DEV_1042&SUBSYS_11001AF4"
    assert first.compatible_ids == [r"PCI\VEN_1AF4&DEV_1042", r"PCI\CC_010802"]  # continued line
    assert second.description == 'Contoso Legacy "Block" Controller'  # "" inside quotes
    assert second.hardware_id == r"PCI\VEN_1AF4&DEV_1001" and second.compatible_ids == []
    assert inf.hardware_ids == [r"PCI\VEN_1AF4&DEV_1042&SUBSYS_11001AF4", r"PCI\VEN_1AF4&DEV_1042",
                                r"PCI\CC_010802", r"PCI\VEN_1AF4&DEV_1001"]
    (svc,) = inf.services  # the x86 service of ContosoStor_Inst32 is not amd64's
    assert (svc.name, svc.install_section, svc.start_type, svc.service_type) == \
        ("contstor", "ContosoStor_Service", 0, 1)
    assert svc.binary == r"%12%\contstor.sys"  # dirids stay as written
    assert inf.boot_critical
    assert inf.languages == ["0804"] and inf.language is None


def test_localized_strings_override():
    inf = load(STOR, language="0804")
    assert inf.language == "0804"
    assert inf.provider == "康拓有限公司"
    assert inf.models[0].description == "康拓 NVMe 内存控制器"
    assert inf.models[1].description == 'Contoso Legacy "Block" Controller'  # falls back to [Strings]
    assert inf.manufacturers == ["Contoso"]


def test_older_target_picks_older_models_section():
    inf = load(STOR, target=("amd64", 6, 3, 9600))
    assert inf.models_sections == ["Contoso.NTamd64"]
    assert [m.hardware_id for m in inf.models] == [r"PCI\VEN_1AF4&DEV_1000"]
    x86 = load(STOR, target=("x86", 10, 0, 19041))
    assert [m.hardware_id for m in x86.models] == [r"PCI\VEN_1AF4&DEV_9999"]
    assert [(s.name, s.start_type) for s in x86.services] == [("contstor32", 3)]
    assert not x86.boot_critical


def test_ansi_inf_every_field():
    with open(NET, "rb") as fh:
        raw = fh.read()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really ANSI: é and ® are single cp1252 bytes
    inf = load(NET)
    assert inf.signature == "$Windows NT$"
    assert (inf.driver_class, inf.class_guid) == ("Net", "{4d36e972-e325-11ce-bfc1-08002be10318}")
    assert inf.provider == "Fabrikam Réseau®"
    assert (inf.driver_date, inf.driver_version) == ("2019-01-09", "2.5.0.17")
    assert inf.catalog_file == "fabnet.cat"
    assert inf.models_sections == ["Fabrikam.NTamd64.10.0"]
    assert [(m.description, m.hardware_id, m.compatible_ids) for m in inf.models] == [
        ("Fabrikam Gigabit Ethernet; « rapide »", r"PCI\VEN_8086&DEV_15B8&SUBSYS_00008086",
         [r"PCI\VEN_8086&DEV_15B8"]),  # ';' inside quotes is not a comment
        ("Fabrikam 2.5G Ethernet", r"pci\ven_8086&dev_15bc", []),
    ]
    (svc,) = inf.services  # found through FabNet.ndi.NT.Services
    assert (svc.name, svc.start_type, svc.binary) == ("fabnet", 3, r"%12%\fabnet.sys")
    assert not inf.boot_critical


def test_utf8_bom_localized_only_x86():
    inf = load(USB)
    assert inf.language == "0409" and inf.languages == ["0409", "0804"]
    assert inf.provider == "Northwind"
    assert inf.architectures == ["x86"]
    assert inf.models == [] and inf.models_sections == []  # no amd64 models: useless on x64
    assert load(USB, language="0804").provider == "北风"
    x86 = load(USB, target=("x86", 10, 0, 0))
    assert [(m.description, m.hardware_id) for m in x86.models] == [
        ("Northwind USB gadget", r"USB\VID_1234&PID_5678")]


def test_syntax_details():
    text = ('[Version]\n'
            'Class = "A;B" ; comment\n'
            'Provider = %P%\n'
            'DriverVer = 13/45/2020\n'
            '[Strings]\n'
            'P = "50%% off, ""really"""\n'
            '[strings]\n'
            'Q = second part merges\n').encode()
    inf = parse_inf(text)
    assert inf.driver_class == "A;B"
    assert inf.provider == '50% off, "really"'
    assert inf.driver_date is None  # an impossible date is not invented
    sections, names = parse_sections('[S]\nkey = a,\\\n  b , "c d" \n'.replace("\n", "\r\n"))
    assert sections["s"][0].key == "key" and sections["s"][0].fields == ["a", "b", "c d"]
    assert names == {"s": "S"}
    assert parse_inf(b"[Version]\nProvider=%Unknown%\n").provider == "%Unknown%"
    assert parse_inf("[Version]\nProvider=é".encode("utf-8")).provider == "é"  # UTF-8 w/o BOM
    assert decode_inf("[a]".encode("utf-16-be").join([b"\xfe\xff", b""])) == "[a]"


def test_generic_nt_section_is_not_used_on_amd64():
    text = (b"[Manufacturer]\nM=Mod,NT,NTamd64.6.1\n[Mod.NT]\nd=I,PCI\\OLD\n"
            b"[Mod.NTamd64.6.1]\nd=I,PCI\\NEW\n")
    assert [m.hardware_id for m in parse_inf(text).models] == [r"PCI\NEW"]
    assert [m.hardware_id for m in parse_inf(text, target=("x86", 10, 0, 0)).models] == [r"PCI\OLD"]
    assert parse_inf(text, target=("amd64", 6, 0, 6000)).models == []  # 6.1 is newer than Vista


def test_binary_is_refused():
    with pytest.raises(CorruptImage):
        parse_inf(b"MZ\x90\x00\x03\x00\x00\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data):
    try:
        parse_inf(data)
    except DiskkitError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["[Version]", "[Manufacturer]", "[Strings]", "[M.NTamd64]",
                                 "[I.NTamd64.Services]", "[S]", "Class=%x%", "%m%=M,NTamd64",
                                 "%m%=M,NTamd64.10.0...1", "d=I,PCI\\X", "AddService=s,2,S",
                                 "StartType=0", "StartType=%z%", "x=%%", "\\", '"', ";", "a,,b",
                                 "=", "m=\"q\"", "z=0x0", "NTamd64.bad.x"]), max_size=40))
def test_random_inf_structure(lines):
    text = "\n".join(lines)
    for data in (text.encode(), b"\xff\xfe" + text.encode("utf-16-le")):
        inf = parse_inf(data)
        json.dumps(inf.to_dict())


def test_hwids_from_pnputil_english_chinese_and_list():
    en = read_hwids(os.path.join(FIX, "pnputil-ids.txt"))  # UTF-16 (PowerShell redirection)
    assert r"PCI\VEN_1AF4&DEV_1042&SUBSYS_11001AF4" in en and "*PNP0303" in en
    assert r"PCI\CC_010802" in en and r"ACPI\VEN_PNP&DEV_0303" in en
    assert not any(":" in i or " " in i for i in en)
    zh = read_hwids(os.path.join(FIX, "pnputil-ids-zh.txt"))  # GBK labels (cmd redirection)
    assert {r"PCI\VEN_8086&DEV_15BC", r"PCI\VEN_8086&DEV_15BC&SUBSYS_00008086"} <= zh
    assert read_hwids(os.path.join(FIX, "hwids-list.txt")) == {r"USB\VID_1234&PID_5678",
                                                                r"PCI\VEN_DEAD&DEV_BEEF"}


def test_scan_sizes_and_matching():
    ids = read_hwids(os.path.join(FIX, "pnputil-ids.txt")) | read_hwids(
        os.path.join(FIX, "pnputil-ids-zh.txt"))
    packages = scan(FIX, ids)
    assert [p.path for p in packages] == ["contstor.inf_amd64_0123456789abcdef",
                                          "fabnet.inf_amd64_fedcba9876543210",
                                          "northwind.inf_x86_00112233aabbccdd"]
    stor, net, usb = packages
    assert sorted(stor.files) == ["contstor.inf", "contstor.sys", "storx64.cat"]
    for p in packages:
        root = os.path.join(FIX, p.path)
        assert p.size == sum(os.lstat(os.path.join(root, f)).st_blocks * 512 for f in p.files)
    assert stor.matched_ids == [r"PCI\CC_010802", r"PCI\VEN_1AF4&DEV_1042",
                                r"PCI\VEN_1AF4&DEV_1042&SUBSYS_11001AF4"]
    assert net.matched_ids == [r"PCI\VEN_8086&DEV_15BC"]  # lower-case INF id matched
    assert usb.matched_ids == []
    assert stor.boot_critical and not net.boot_critical


def test_scan_nested_packages_and_bad_inf(tmp_path):
    outer = tmp_path / "pack"
    inner = outer / "sub" / "inner"
    inner.mkdir(parents=True)
    shutil.copy(NET, outer / "a.inf")
    (outer / "sub" / "data.bin").write_bytes(b"x" * 5000)
    shutil.copy(STOR, inner / "b.INF")
    (inner / "bad.inf").write_bytes(b"\x00\x01binary")
    packages = scan(str(tmp_path))
    assert [p.path for p in packages] == ["pack", "pack/sub/inner"]
    assert packages[0].files == ["a.inf", "sub/data.bin"]  # the inner package's files are its own
    assert sorted(packages[1].files) == ["b.INF", "bad.inf"]
    errors = [e for e in packages[1].infs if e.error]
    assert [e.path for e in errors] == ["pack/sub/inner/bad.inf"]


def test_pack_filters_manifest_and_saved(tmp_path):
    hw = os.path.join(FIX, "pnputil-ids.txt")
    out = tmp_path / "out"
    summary = pack(FIX, str(out), read_hwids(hw), only_matching=True)
    assert [p["path"] for p in summary["packages"]] == ["contstor.inf_amd64_0123456789abcdef"]
    assert sorted(os.listdir(out)) == ["contstor.inf_amd64_0123456789abcdef", "manifest.json"]
    for name in ("contstor.inf", "contstor.sys", "storx64.cat"):
        with open(os.path.join(FIX, "contstor.inf_amd64_0123456789abcdef", name), "rb") as a, \
                open(out / "contstor.inf_amd64_0123456789abcdef" / name, "rb") as b:
            assert a.read() == b.read()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["size_saved"] == manifest["size_found"] - manifest["size_packed"] > 0
    assert manifest == json.loads(json.dumps(summary))
    with pytest.raises(AlreadyExists):
        pack(FIX, str(out))
    again = pack(FIX, str(out), force=True)  # replaces a previous pack only
    assert again["packages_packed"] == 3
    boot = pack(FIX, str(tmp_path / "boot"), boot_critical=True)
    assert [p["path"] for p in boot["packages"]] == ["contstor.inf_amd64_0123456789abcdef"]
    with pytest.raises(UsageError):
        pack(FIX, str(tmp_path / "x"), only_matching=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(AlreadyExists):
        pack(FIX, str(tmp_path / "mine"), force=True)
    assert (tmp_path / "mine" / "keep.txt").exists()


def test_export_falls_back_to_dism(tmp_path):
    calls = []

    def runner(argv):
        calls.append(argv)
        return types.SimpleNamespace(returncode=1 if argv[0] == "pnputil" else 0)

    dest = str(tmp_path / "drv")
    result = export_drivers(dest, runner=runner, platform="win32")
    assert calls == export_commands(dest)
    assert calls[0] == ["pnputil", "/export-driver", "*", dest]
    assert calls[1] == ["dism", "/English", "/Online", "/Export-Driver", f"/Destination:{dest}"]
    assert result["tool"] == "dism" and os.path.isdir(dest)
    with pytest.raises(DiskkitError, match="exit code 5"):
        export_drivers(dest, runner=lambda a: types.SimpleNamespace(returncode=5), platform="win32")
    with pytest.raises(Unsupported):
        export_drivers(dest, platform="linux")


def test_cli(tmp_path):
    hw = os.path.join(FIX, "pnputil-ids.txt")
    data = json.loads(diskkit("drivers", "scan", FIX, "--hwids", hw, "--json").stdout)
    assert [bool(p["matched_ids"]) for p in data["packages"]] == [True, False, False]
    text = diskkit("drivers", "scan", FIX).stdout
    assert "SCSIAdapter" in text and "boot" in text
    out = tmp_path / "o"
    res = diskkit("drivers", "pack", FIX, "--out", out, "--only-matching", "--hwids", hw)
    assert "saved" in res.stdout and (out / "manifest.json").exists()
    bad = diskkit("drivers", "pack", FIX, "--out", tmp_path / "y", "--only-matching", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("diskkit: error:")
    assert diskkit("drivers", "scan", tmp_path / "nope", check=False).returncode == 2
