"""简体中文: ``ramos doctor``'s report (text, --json and --html) and the HTML page's words."""

MESSAGES = {
    # the report's frame
    "ramos doctor: {image} (chain {chain})": "ramos doctor：{image}（方案 {chain}）",
    "ramos doctor: {image} (chain {chain}, guessed from the layout: pass --chain)":
        "ramos doctor：{image}（方案 {chain}，按分区布局猜的：请用 --chain 指定）",
    "container": "容器",
    "partition layout": "分区布局",
    "inner layer (the VHD's ESP and BCD)": "内层引导（VHD 自己的 ESP 和 BCD）",
    "Windows inside": "VHD 里的 Windows",
    "drivers": "驱动",
    "settings for RAM": "内存运行相关设置",
    "outer layer (the machine's ESP)": "外层引导（本机的 ESP）",
    "firmware": "固件",
    "PASS": "通过",
    "INFO": "信息",
    "WARN": "警告",
    "FAIL": "失败",
    "fix: {command}": "修复：{command}",
    "{passed} pass, {warned} warn, {failed} fail": "{passed} 项通过，{warned} 项警告，{failed} 项失败",
    ": fix the FAIL lines before the first RAM boot": "：第一次内存启动前请先修好“失败”的各项",
    "--ram must be positive": "--ram 必须大于零",

    # container
    "no partition table: not a RAMOS image": "没有分区表：这不是 RAMOS 镜像",
    "cannot read the {fs} filesystem: {error}": "读不了 {fs} 文件系统：{error}",
    "VHDX: the RAM loaders read VHD or raw images only, and Windows' own ramdisk reads the "
    "file flat":
        "VHDX：内存加载器只认 VHD 或裸磁盘镜像，Windows 自带的 ramdisk 也是把文件当裸磁盘读",
    "dynamic VHD: the {chain} chain reads the file as a flat disk, so Windows would see the "
    "VHD's metadata, not its disk":
        "动态 VHD：{chain} 方案把文件当裸磁盘读，Windows 看到的会是 VHD 的元数据，而不是磁盘内容",
    "dynamic VHD: {note}": "动态 VHD：{note}",
    "raw image: the loaders read it, but Windows tools (diskpart attach, Hyper-V) expect a .vhd":
        "裸磁盘镜像：加载器能读，但 Windows 的工具（diskpart attach、Hyper-V）要的是 .vhd",
    "fixed VHD: the loader can copy it into RAM as is": "固定大小（fixed）VHD：加载器可以原样读入内存",
    "sparse file ({allocated} of {size} allocated): Windows refuses to attach a sparse VHD":
        "稀疏文件（{size} 中只分配了 {allocated}）：Windows 拒绝附加稀疏的 VHD",
    "on Windows: fsutil sparse setflag {name} 0; on Linux: cp --sparse=never":
        "Windows 上：fsutil sparse setflag {name} 0；Linux 上：cp --sparse=never",
    "container or partition table damaged: {problem}": "容器或分区表损坏：{problem}",
    " (and {count} more)": "（另有 {count} 处）",
    "container: {problem}": "容器：{problem}",
    "footer, partition table (and backup GPT) and FAT volumes check clean":
        "VHD 尾部、分区表（及备份 GPT）和 FAT 分区检查无误",
    "re-capture into a VHD below {limit}, or boot it with {chains}":
        "重新捕获为 WIM，再释放到小于 {limit} 的 VHD，或改用 {chains} 启动",
    "the RAM disk takes {size}; give --ram to check it against the machine's memory":
        "内存盘占 {size}；用 --ram 给出本机内存即可核对是否够用",
    "re-capture Windows into a VHD that fits (docs/ramos.md §9, step 8), or add RAM":
        "把 Windows 重新捕获为 WIM，再释放到放得下的小 VHD（docs/ramos.zh-CN.md 第 9 节第 8 步），"
        "或加内存",
    "RAM {ram} holds the {size} RAM disk with {left} left":
        "内存 {ram} 放得下 {size} 的内存盘，还剩 {left}",

    # layout
    "{table} image; `ramos init --chain {chain}` makes {want} (check that the chain is right)":
        "{table} 镜像；`ramos init --chain {chain}` 做出的是 {want}（请确认方案选对了）",
    "{table}, as {chain} expects": "{table}，符合 {chain} 的要求",
    "Windows is partition {index} at byte {offset} ({size}): the offset `boot config` writes "
    "(imgofs / ramdiskimageoffset)":
        "Windows 在第 {index} 个分区，起点字节 {offset}（{size}）：`boot config` 写入的就是这个偏移"
        "（imgofs / ramdiskimageoffset）",
    "Windows is partition {index} at byte {offset} ({size}): the offset `boot config` writes":
        "Windows 在第 {index} 个分区，起点字节 {offset}（{size}）：`boot config` 写入的就是这个偏移",
    "no EFI System Partition inside the VHD: {chain} starts \\EFI\\BOOT\\BOOTX64.EFI from it":
        "VHD 里没有 EFI 系统分区（ESP）：{chain} 要从那里启动 \\EFI\\BOOT\\BOOTX64.EFI",
    "diskkit ramos init NEW.vhd --size SIZE --chain {chain}, then deploy Windows into it":
        "diskkit ramos init NEW.vhd --size SIZE --chain {chain}，再把 Windows 部署进去",

    # inner layer
    "disk {disk}, partition {partition}": "磁盘 {disk}，分区 {partition}",
    "disk 0x{signature:08x}, offset {offset}": "磁盘 0x{signature:08x}，偏移 {offset}",
    "{chain}: the boot manager and its BCD come from outside the VHD; the VHD's own boot files "
    "matter only for tuning it in a VM":
        "{chain}：启动管理器和它的 BCD 在 VHD 外面；VHD 自己的引导文件只在虚拟机里调整系统时有用",
    "attach the VHD and run bcdboot V:\\Windows /s S: /f UEFI (the deploy script's bcdboot "
    "step) so the BCD names this VHD's partitions":
        "附加 VHD 后运行 bcdboot V:\\Windows /s S: /f UEFI（部署脚本的 bcdboot 一步），"
        "让 BCD 指向这个 VHD 自己的分区",
    "\\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP is {problem}":
        "VHD 的 ESP 里的 \\EFI\\BOOT\\BOOTX64.EFI 是 {problem}",
    "\\EFI\\BOOT\\BOOTX64.EFI is in the VHD's ESP": "VHD 的 ESP 里有 \\EFI\\BOOT\\BOOTX64.EFI",
    "no \\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP: {chain} has nothing to start from the RAM "
    "disk":
        "VHD 的 ESP 里没有 \\EFI\\BOOT\\BOOTX64.EFI：{chain} 在内存盘里找不到可启动的程序",
    "no \\EFI\\Microsoft\\Boot\\BCD in the VHD's ESP: the boot manager stops with 0xc000000f":
        "VHD 的 ESP 里没有 \\EFI\\Microsoft\\Boot\\BCD：启动管理器会报 0xc000000f",
    "the VHD's BCD is unreadable: {error}": "VHD 里的 BCD 读不了：{error}",
    "the VHD's BCD has no {bootmgr} device": "VHD 里的 BCD 没有 {bootmgr} 的 device",
    "{bootmgr} is on this VHD's ESP": "{bootmgr} 在这个 VHD 的 ESP 上",
    "{{bootmgr}} points at {device}, not this VHD's ESP ({esp}): the two boot layers are mixed":
        "{{bootmgr}} 指向 {device}，而不是这个 VHD 的 ESP（{esp}）：两层引导混在一起了",
    "the VHD's BCD has no default entry to boot": "VHD 里的 BCD 没有默认启动项",
    "{element} missing": "缺少 {element}",
    "default entry {entry}: {wrong}, not this VHD's Windows partition ({windows})":
        "默认启动项 {entry}：{wrong}，不是这个 VHD 的 Windows 分区（{windows}）",
    "default entry {entry} boots this VHD's Windows partition":
        "默认启动项 {entry} 启动的是这个 VHD 的 Windows 分区",
    "the default entry's {missing} is not in the Windows partition (0xc000000f at boot)":
        "默认启动项的 {missing} 在 Windows 分区里不存在（启动时报 0xc000000f）",
    "the default entry's path and systemroot exist": "默认启动项的 path 和 systemroot 都存在",

    # Windows
    "the Windows partition holds {fs}, not NTFS: Windows is not deployed yet":
        "Windows 分区里是 {fs}，不是 NTFS：Windows 还没部署进去",
    "the Windows partition has no filesystem: Windows is not deployed yet":
        "Windows 分区里没有文件系统：Windows 还没部署进去",
    "diskkit ramos script deploy ... (see docs/ramos.md)":
        "diskkit ramos script deploy ...（见 docs/ramos.zh-CN.md）",
    "this diskkit cannot read NTFS: the Windows checks were skipped":
        "这个 diskkit 读不了 NTFS：跳过了 Windows 的各项检查",
    "NTFS is marked dirty: Windows runs chkdsk at every RAM boot and loses the repair at "
    "power-off":
        "NTFS 被标记为脏：每次从内存启动 Windows 都会跑 chkdsk，修好的结果关机就丢",
    "boot the VHD once in a VM (diskkit vm qemu {image}) and shut down cleanly, or chkdsk /f "
    "V: with the VHD attached":
        "在虚拟机里启动一次这个 VHD（diskkit vm qemu {image}）再正常关机，"
        "或附加 VHD 后运行 chkdsk /f V:",
    "NTFS is clean (not marked dirty)": "NTFS 干净（没有脏标记）",
    "NTFS {used} used of {total} ({free} free)": "NTFS 已用 {used}，共 {total}（剩 {free}）",
    "NTFS {used} used of {total} ({free} free); nearly full: updates and temp files fail":
        "NTFS 已用 {used}，共 {total}（剩 {free}）；快满了：系统更新和临时文件会失败",
    "diskkit ramos plan --from {image} for the smallest VHD that holds it":
        "diskkit ramos plan --from {image} 算出装得下它的最小 VHD",
    "deploy Windows into the VHD: diskkit ramos script deploy ...":
        "把 Windows 部署进 VHD：diskkit ramos script deploy ...",
    "no \\Windows folder in the Windows partition: Windows is not deployed yet":
        "Windows 分区里没有 \\Windows 文件夹：Windows 还没部署进去",
    "the boot manager stops with 0xc000000f": "启动管理器会报 0xc000000f",
    "winload finds no kernel": "winload 找不到内核",
    "{path} is present": "{path} 存在",
    "no {path}: {why}": "没有 {path}：{why}",
    "no {path} hive": "没有注册表配置单元 {path}",
    "the {hive} hive is unreadable: {error}": "{hive} 配置单元读不了：{error}",
    "boot the VHD in a VM once; Windows repairs its hives from the logs":
        "在虚拟机里启动一次这个 VHD；Windows 会用日志修复配置单元",

    # drivers
    "SVBus is not installed: Windows stops with INACCESSIBLE_BOOT_DEVICE (0x7B) at the first "
    "RAM boot":
        "没装 SVBus：第一次从内存启动时 Windows 会蓝屏 INACCESSIBLE_BOOT_DEVICE（0x7B）",
    "diskkit ramos script deploy ... --svbus DIR (or dism /Image:V:\\ /Add-Driver "
    "/Driver:SVBus /Recurse /ForceUnsigned)":
        "diskkit ramos script deploy ... --svbus DIR（或 dism /Image:V:\\ /Add-Driver "
        "/Driver:SVBus /Recurse /ForceUnsigned）",
    "SVBus starts as {start} (Start={value}), not with the kernel: 0x7B at the first RAM boot":
        "SVBus 的启动类型是 {start}（Start={value}），不随内核启动：第一次从内存启动会蓝屏 0x7B",
    "SVBus is a boot-start service": "SVBus 是随内核启动（boot-start）的服务",
    "{chain} uses Microsoft's ramdisk driver: no SVBus needed":
        "{chain} 用的是微软自带的 ramdisk 驱动：不需要 SVBus",
    "{service} starts with the kernel": "{service} 随内核启动",
    "{service} starts as {start}: on a machine whose disk controller differs from the VM's, "
    "0x7B":
        "{service} 的启动类型是 {start}：换到磁盘控制器和虚拟机不同的机器上会蓝屏 0x7B",
    "{path}: no storage controller (PCI class 01) among its IDs; was it made with pnputil "
    "/enum-devices /connected /ids on the target?":
        "{path}：里面没有存储控制器（PCI 类 01）的硬件 ID；是在目标机上用 pnputil /enum-devices "
        "/connected /ids 导出的吗？",
    "{kind} controller {device}": "{kind} 控制器 {device}",
    "{controller}: no driver for it in the image's driver store: 0x7B on that machine":
        "{controller}：镜像的驱动仓库里没有它的驱动：在那台机器上会蓝屏 0x7B",
    "diskkit drivers pack D:\\drv --out D:\\drv-min --boot-critical, then diskkit ramos script "
    "deploy ... --drivers D:\\drv-min":
        "diskkit drivers pack D:\\drv --out D:\\drv-min --boot-critical，再运行 diskkit ramos "
        "script deploy ... --drivers D:\\drv-min",
    "{controller}: only x86 drivers match ({packages}), and Windows is x64":
        "{controller}：匹配的只有 x86 驱动（{packages}），而 Windows 是 x64",
    "export the x64 driver on the target machine: pnputil /export-driver * D:\\drv":
        "在目标机上导出 x64 驱动：pnputil /export-driver * D:\\drv",
    "{controller}: {services} installed as a boot-start service":
        "{controller}：{services} 已装为随内核启动的服务",
    "{controller}: driver found ({package}) but its service {service} does not start with the "
    "kernel: 0x7B on that machine":
        "{controller}：找到了驱动（{package}），但它的服务 {service} 不随内核启动：在那台机器上会蓝屏 0x7B",

    # settings that make no sense in RAM
    "diskkit ramos script slim (step {step}) inside the VM":
        "在虚拟机里运行 diskkit ramos script slim 生成的脚本（{step} 这一步）",
    "a pagefile is set ({pages}): paging RAM into the RAM disk only wastes both":
        "设置了页面文件（{pages}）：把内存换页到内存盘里，两头都浪费",
    "no pagefile": "没有页面文件",
    "hibernation is off": "休眠已关闭",
    "on": "开启",
    "not turned off": "没有关闭",
    "hibernation is {state}: hiberfil.sys takes a good part of RAM size in the RAM disk":
        "休眠{state}：hiberfil.sys 会在内存盘里占掉相当于大半个内存的空间",
    "{what} is disabled": "{what} 已禁用",
    "{what} starts as {start}: {why}": "{what} 的启动类型是 {start}：{why}",
    "the indexer rewrites its index in the RAM disk, lost at every power-off.":
        "索引器在内存盘里反复重写索引，每次关机都会丢掉。",
    "it caches from a disk that is already RAM.": "它为一块本来就是内存的磁盘做缓存。",
    "System Restore is off": "系统还原已关闭",
    "System Restore is on: restore points fill the small VHD and vanish at power-off":
        "系统还原开着：还原点会塞满小 VHD，而且关机就没了",

    # why a file is not an x86-64 EFI application (boot/efiapp.py)
    "not a PE/COFF program (no MZ header)": "不是 PE/COFF 程序（没有 MZ 头）",
    "not a PE/COFF program (header cut short)": "不是 PE/COFF 程序（文件头不完整）",
    "not a PE/COFF program (no PE header)": "不是 PE/COFF 程序（没有 PE 头）",
    "a program for {name}, not x86-64": "{name} 平台的程序，不是 x86-64",
    "a {name} program, not an EFI application": "{name} 程序，不是 EFI 应用程序",

    # outer layer
    "no EFI loader on the ESP besides Windows' own": "ESP 上除了 Windows 自己的，没有别的 EFI 加载器",
    "no {config} beside the loader ({loaders})": "加载器（{loaders}）旁边没有 {config}",
    "; found {others}: the loader reads only {config}": "；找到的是 {others}：加载器只读 {config}",
    "rename it to {config}, or: diskkit boot config --chain {chain} --vhd {image} --vhd-path "
    "PATH --out {config}":
        "把它改名为 {config}，或者：diskkit boot config --chain {chain} --vhd {image} "
        "--vhd-path PATH --out {config}",
    "{loader} is {problem}": "{loader} 是 {problem}",
    "loader {loader} with its {config}": "加载器 {loader} 和它的 {config} 都在",
    "{config} does not name {image}: it boots another VHD, or this one was renamed":
        "{config} 里没有 {image}：它启动的是别的 VHD，或者这个 VHD 改过名",
    "{config} names {image}": "{config} 指向 {image}",
    "{config}: imgofs={found}, but Windows starts at byte {offset} of the VHD (0xc0000225 at "
    "boot)":
        "{config}：imgofs={found}，但 Windows 从 VHD 的第 {offset} 字节开始（启动时报 0xc0000225）",
    "imgofs={found} is the Windows partition's offset": "imgofs={found} 正是 Windows 分区的偏移",
    "{config} starts ntloader with linux/initrd: the GRUB beside it must be {version} or later "
    "(older ones reset the machine); the version is not readable from the EFI file":
        "{config} 用 linux/initrd 启动 ntloader：旁边的 GRUB 必须是 {version} 或更新"
        "（旧版会让机器直接重启）；从 EFI 文件里读不出版本",
    "{files} not on the ESP: GRUB stops with 'file not found'":
        "ESP 上没有 {files}：GRUB 会报“file not found”",
    "{files} are on the ESP": "{files} 都在 ESP 上",
    "diskkit boot config --chain {chain} --vhd {image} --vhd-path D:\\ramos\\{image} --out "
    "{config}, then run it on that machine as administrator":
        "diskkit boot config --chain {chain} --vhd {image} --vhd-path D:\\ramos\\{image} "
        "--out {config}，再在那台机器上以管理员身份运行它",
    "no \\EFI\\Microsoft\\Boot\\BCD on this ESP: {chain} adds its entry to the Windows Boot "
    "Manager's store there":
        "这个 ESP 上没有 \\EFI\\Microsoft\\Boot\\BCD：{chain} 要把启动项加到那里的 Windows 启动管理器存储里",
    "the machine's BCD is unreadable: {error}": "本机的 BCD 读不了：{error}",
    "no entry in the machine's BCD boots {image} as {kind}=...":
        "本机 BCD 里没有以 {kind}=... 启动 {image} 的启动项",
    "entry {entry} boots {image} but is not in the boot menu (displayorder)":
        "启动项 {entry} 启动 {image}，但不在启动菜单里（displayorder）",
    "entry {entry} boots {device}": "启动项 {entry} 启动 {device}",
    "{options} has ramdiskimageoffset {found}, but Windows starts at byte {offset} of the VHD "
    "(0xc0000225 at boot)":
        "{options} 的 ramdiskimageoffset 是 {found}，但 Windows 从 VHD 的第 {offset} 字节开始"
        "（启动时报 0xc0000225）",
    "ramdiskimageoffset {offset} is the Windows partition's offset":
        "ramdiskimageoffset {offset} 正是 Windows 分区的偏移",

    # firmware
    "{chain} starts from the Microsoft-signed Windows Boot Manager":
        "{chain} 从微软签名的 Windows 启动管理器启动",
    "Secure Boot must be off in the firmware setup: {chain}'s loader is not signed for it":
        "固件设置里必须关闭安全启动（Secure Boot）：{chain} 的加载器没有相应的签名",
}
