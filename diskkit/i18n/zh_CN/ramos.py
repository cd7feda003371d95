"""简体中文: the RAMOS commands (plan, init, script, build) and the CLI's common words."""

MESSAGES = {
    # the CLI's own words
    "error": "错误",
    "warning": "警告",
    "warning: {message}": "警告：{message}",
    "note: {message}": "注意：{message}",
    # ramos build step states
    "info": "信息",
    "ran": "已执行",
    "skipped": "已跳过",
    "would run": "将执行",
    "done": "已完成",
    "windows": "交给 Windows",

    # ramos plan: the report
    "chain": "方案",
    "RAM": "内存",
    "RAM disk": "内存盘",
    "RAM left": "剩余内存",
    "load time": "读入时间",
    "largest VHD": "最大 VHD",
    "  (file-backed: nothing is loaded into RAM)": "  （直接从文件启动：不读入内存）",
    "{size} {type} (a fixed VHD file is {bytes} bytes)":
        "{size} {type}（固定大小的 VHD 文件为 {bytes} 字节）",
    "{left} for Windows and programs": "{left} 留给 Windows 和程序",
    "{seconds} s at {rate} (the physical floor: size / read speed)":
        "{seconds} 秒，读速 {rate}（物理下限：大小 ÷ 读速）",
    "{size} for this RAM (RAM - 4 GiB rule)": "{size}（按“内存 − 4 GiB”规则）",
    "; with less RAM the boot manager stops with 0xc0000017":
        "；内存不够时启动管理器报 0xc0000017",
    "{table} layout for {chain}:": "{chain} 的 {table} 分区布局：",
    "offset": "偏移",
    "size": "大小",

    # a dynamic VHD per chain (boot/chains.py's facts)
    "native VHD boot expands a dynamic VHD to its full size on the host partition while "
    "Windows runs from it: leave that much free space":
        "原生 VHD 启动时，动态 VHD 会在所在分区上扩展到满容量：请留出这么多空闲空间",
    "; it needs {what}": "；前提是{what}",
    "{chain} expands a dynamic VHD into RAM itself{needs}: {trade}":
        "{chain} 会自己把动态 VHD 展开到内存里{needs}：{trade}",
    "a dynamic VHD is a smaller file to read at boot (load time = file size / disk speed), but "
    "the RAM disk still takes the full virtual size":
        "动态 VHD 文件小，启动时读得快（读入时间 = 文件大小 ÷ 磁盘读速），但内存盘仍占满整个虚拟容量",
    "the fork's vhd module in the GRUB image (esp build --grub-mkimage puts it in; without it "
    "the fork copies the file flat)":
        "GRUB 映像里带有该分支的 vhd 模块（esp build --grub-mkimage 会放进去；没有它，"
        "该分支会把文件当裸磁盘整个复制）",

    # ramos plan: errors and warnings
    "{text}: give a unit, e.g. {text}MB/s (drive makers quote decimal MB/s) or 1GB/s":
        "{text}：请带上单位，例如 {text}MB/s（硬盘厂商标的是十进制 MB/s）或 1GB/s",
    "VHD type {type!r}: choose fixed or dynamic": "VHD 类型 {type!r}：只能是 fixed 或 dynamic",
    "--ram and --ssd-read must be positive": "--ram 和 --ssd-read 必须大于零",
    "the largest VHD for this RAM is {size} (RAM - 4 GiB, the rule from field reports)":
        "这些内存最多放 {size} 的 VHD（内存 − 4 GiB，论坛实测得出的规则）",
    "this RAM leaves nothing once Windows has its 4 GiB: it cannot hold a RAMOS":
        "给 Windows 留出 4 GiB 之后内存就不剩了：装不下 RAMOS",
    "; the boot manager shows {error}": "；启动管理器会报 {error}",
    "a {vhd} VHD does not fit in {ram} of RAM: {fits}{shows}":
        "{vhd} 的 VHD 放不进 {ram} 内存：{fits}{shows}",
    "RAM {ram} is below VHD size + 4 GiB ({need}), the rule from field reports: Windows is "
    "left too little memory; shrink the VHD to {largest} or add RAM{shows}":
        "内存 {ram} 低于“VHD 大小 + 4 GiB”（{need}），这是论坛实测得出的规则：留给 Windows 的内存太少；"
        "请把 VHD 缩到 {largest}，或者加内存{shows}",
    "a dynamic VHD with the {chain} chain: the loader copies the file as a flat disk, so "
    "Windows sees the dynamic VHD's metadata, not its disk; use a fixed VHD (diskkit convert "
    "IN OUT --to fixed)":
        "{chain} 方案用动态 VHD：引导器把文件原样当成裸磁盘复制，Windows 看到的是动态 VHD 的元数据而不是磁盘；"
        "请用固定大小的 VHD（diskkit convert 输入 输出 --to fixed）",
    "no VHD above {size} is known to have loaded through {chain} ({where}); it may work, test "
    "it before relying on it":
        "还没有超过 {size} 的 VHD 经 {chain} 读入成功的记录（{where}）；也许可行，正式使用前请先测试",
    "a {size} VHD through {chain}: Microsoft's ramdisk failed at once with {error} for VHDs of "
    "{limit} or more in tests ({loaded} MiB loaded, {failed} MiB and larger failed; {seen}); "
    "{others} carried {carried}: keep the VHD below {limit} or use one of them":
        "{size} 的 VHD 走 {chain}：测试中微软 ramdisk 遇到 {limit} 及以上的 VHD 立即失败，报 {error}"
        "（{loaded} MiB 能读入，{failed} MiB 及以上失败；{seen}）；{others} 能带起 {carried}："
        "请把 VHD 控制在 {limit} 以下，或者改用它们",
    "the VHD file is {size}: the partition holding it must be NTFS or exFAT, since FAT32 holds "
    "files up to 4 GiB - 1 byte":
        "VHD 文件有 {size}：存放它的分区必须是 NTFS 或 exFAT，因为 FAT32 的单个文件最大只有 4 GiB − 1 字节",
    "{size} is less than a stock Windows 10/11 takes installed, even with Compact OS (which "
    "saves about 2.6 GB on 64-bit Windows, by Microsoft's figures): plan on a trimmed edition "
    "(LTSC, no apps), `ramos script slim`, and re-capture into the small VHD":
        "{size} 装不下原版 Windows 10/11，即使开了 Compact OS（按微软的数据，64 位系统约省 2.6 GB）："
        "请用精简版（LTSC、去掉应用）、`ramos script slim`，然后重新捕获为 WIM，再释放到小 VHD",

    # chain notes (boot/chains.py), shown by ramos plan
    "the SVBus driver must be installed inside the image, or Windows stops with "
    "INACCESSIBLE_BOOT_DEVICE (0x7B) at the first RAM boot":
        "镜像里必须装好 SVBus 驱动，否则第一次内存启动时 Windows 蓝屏 INACCESSIBLE_BOOT_DEVICE（0x7B）",
    "ntloader v3.0.0 (February 2025) or later is needed: ram= and imgofs= do not exist in older "
    "releases, which stop with `Unrecognised argument \"ram=...\"`; get the current release "
    "from github.com/grub4dos/ntloader":
        "需要 ntloader v3.0.0（2025 年 2 月）或更新版本：旧版没有 ram= 和 imgofs=，会停在 "
        "`Unrecognised argument \"ram=...\"`；请到 github.com/grub4dos/ntloader 下载最新版",

    # ramos init: layout, sizes, names
    "VHD size {size} bytes is not a whole number of MiB (Hyper-V, Azure and the loaders want "
    "1 MiB multiples): {hint}":
        "VHD 大小 {size} 字节不是整数个 MiB（Hyper-V、Azure 和引导器都要 1 MiB 的整数倍）：{hint}",
    "did you mean {n}G? A size without a unit is bytes": "是不是想写 {n}G？不带单位的大小按字节算",
    "did you mean {n}{unit} ({n} binary {unit}iB)?": "是不是想写 {n}{unit}（二进制的 {n} {unit}iB）？",
    "the nearest valid size is {n}M": "最接近的有效大小是 {n}M",
    "VHD size {size} is above the VHD format's 2040 GiB": "VHD 大小 {size} 超过了 VHD 格式的上限 2040 GiB",
    "VHD size {size} is too small for the {chain} layout (at least {least})":
        "VHD 大小 {size} 放不下 {chain} 的分区布局（至少 {least}）",
    "{path}: ramos init makes a VHD, not a VHDX (the RAM loaders read VHD files only); name "
    "it .vhd":
        "{path}：ramos init 做的是 VHD，不是 VHDX（内存引导器只认 VHD 文件）；请把扩展名改成 .vhd",
    "{path}: the image is a fixed VHD; Windows (Disk Management, diskpart) attaches it only "
    "under a .vhd name":
        "{path}：这是固定大小的 VHD；Windows（磁盘管理、diskpart）只挂载扩展名为 .vhd 的文件",
    "the Windows partition is only {size}: even a trimmed Windows (LTSC, Compact OS, "
    "re-captured) needs about {need}; with the {chain} layout that is a VHD of at least "
    "{least} (fine for a test image)":
        "Windows 分区只有 {size}：即使是精简过的 Windows（LTSC、Compact OS、重新捕获）也要约 {need}；"
        "按 {chain} 的布局，VHD 至少要 {least}（做测试镜像没问题）",
    "created {image} (fixed VHD)": "已创建 {image}（固定大小的 VHD）",
    "formatted with mkntfs": "已用 mkntfs 格式化",
    "not formatted (the deploy script's diskpart formats it)": "未格式化（由部署脚本里的 diskpart 格式化）",
    "next steps:": "下一步：",
    "the Windows partition is not formatted yet: the deploy script formats it (diskpart "
    "format), or install ntfs-3g and rerun init":
        "Windows 分区还没格式化：部署脚本会格式化（diskpart format），或者装上 ntfs-3g 后重新 init",
    "apply Windows (what WinNTSetup or DISM++ 'restore' do): on Windows `diskkit ramos script "
    "deploy --vhd D:\\ramos\\{name} --wim install.wim --index N --chain {chain}{svbus} --out "
    "deploy.cmd`, then run deploy.cmd as administrator":
        "释放 Windows（相当于 WinNTSetup 或 DISM++ 的“系统还原”）：在 Windows 上运行 `diskkit ramos script "
        "deploy --vhd D:\\ramos\\{name} --wim install.wim --index N --chain {chain}{svbus} --out "
        "deploy.cmd`，再以管理员身份运行 deploy.cmd",
    "; on Linux `... --run` applies the WIM with wimapply": "；在 Linux 上 `... --run` 用 wimapply 释放 WIM",
    "tune it in a VM, or install from your PE there: `diskkit vm qemu {path} --iso PE.iso` or "
    "`diskkit vm virtualbox {path}`":
        "在虚拟机里调教，或在虚拟机里用你的 PE 安装：`diskkit vm qemu {path} --iso PE.iso` 或 "
        "`diskkit vm virtualbox {path}`",
    "boot loader config: `diskkit boot config --chain {chain} --vhd {path} --vhd-path "
    "/ramos/{name}`, then `diskkit esp build` and `diskkit boot entry` (the UEFI entry BOOTICE "
    "or DiskGenius would add)":
        "引导配置：`diskkit boot config --chain {chain} --vhd {path} --vhd-path /ramos/{name}`，"
        "然后 `diskkit esp build` 和 `diskkit boot entry`（就是用 BOOTICE 或 DiskGenius 添加的那条 UEFI 启动项）",
    "the Windows partition starts at byte {offset}: the offset ntloader (imgofs) and bootmgr "
    "(ramdiskimageoffset) need":
        "Windows 分区从第 {offset} 字节开始：这就是 ntloader（imgofs）和 bootmgr（ramdiskimageoffset）要的偏移",

    # ramos script deploy
    "the {chain} chain needs the SVBus driver in the image and no --svbus was given: the "
    "first RAM boot will stop with INACCESSIBLE_BOOT_DEVICE (0x7B). Inject it (--svbus DIR, "
    "or DISM++ driver import) before booting from RAM":
        "{chain} 方案需要在镜像里装 SVBus 驱动，但没有给 --svbus：第一次内存启动会蓝屏 "
        "INACCESSIBLE_BOOT_DEVICE（0x7B）。内存启动之前请先注入（--svbus 目录，或用 DISM++ 导入驱动）",
    "the VHD path has spaces or non-ASCII characters: the boot loaders find the VHD by path, "
    "and plain ASCII names are the safe choice (e.g. D:\\ramos\\win.vhd)":
        "VHD 路径里有空格或非英文字符：引导器按路径找 VHD，只用英文字母的路径最稳妥（例如 D:\\ramos\\win.vhd）",
    "--letters takes two letters, Windows first: VS": "--letters 要两个盘符，Windows 的在前：VS",
    "--index {index}: image indexes start at 1 (list them: dism /Get-WimInfo "
    "/WimFile:install.wim)":
        "--index {index}：映像序号从 1 开始（查看：dism /Get-WimInfo /WimFile:install.wim）",
    "--index {index}: {wim} holds {count} image(s) (list them: dism /Get-WimInfo "
    "/WimFile:install.wim, or wiminfo)":
        "--index {index}：{wim} 里只有 {count} 个映像（查看：dism /Get-WimInfo /WimFile:install.wim，或 wiminfo）",
    "{wim}: no such WIM file": "{wim}：找不到这个 WIM 文件",
    "{what} {path}: a folder on this machine outside the VHD's folder, so where Windows will "
    "see it is unknown; give it as a Windows path (e.g. {what} {example})":
        "{what} {path}：这是本机上 VHD 所在文件夹之外的目录，不知道它在 Windows 上的位置；"
        "请直接写成 Windows 路径（例如 {what} {example}）",
    "--reformat is for --run on Linux; the Windows script always formats":
        "--reformat 只用于 Linux 上的 --run；Windows 脚本本来就会格式化",
    "wrote {out}: run it on Windows from an elevated prompt": "已写入 {out}：请在 Windows 上以管理员身份运行",
    "wrote {out}: run it inside the VM as administrator": "已写入 {out}：请在虚拟机里以管理员身份运行",
    "all steps done; logs in {logs}": "全部步骤完成；日志在 {logs}",
    "remaining for Windows (drivers, SVBus, registry, bcdboot): {script}":
        "剩下交给 Windows 做的（驱动、SVBus、注册表、bcdboot）：{script}",
    "  it expects the VHD at {path} (--windows-path); run it there as administrator":
        "  脚本认为 VHD 在 {path}（--windows-path）；请在那台 Windows 上以管理员身份运行",

    # ramos plan --from: the smallest VHD for the Windows in an image
    "partition {n}": "分区 {n}",
    "whole disk": "整个磁盘",
    "{image}: {size} VHD; Windows on {where}: NTFS {used} used, MFT {mft}":
        "{image}：{size} 的 VHD；Windows 在{where}：NTFS 已用 {used}，MFT {mft}",
    "smallest VHD: {size} = partitions before Windows {before} + used {used} + MFT reserve "
    "{mft} + headroom {headroom} + {after} after":
        "最小 VHD：{size} = Windows 之前的分区 {before} + 已用 {used} + MFT 预留 {mft} + 余量 "
        "{headroom} + 其后 {after}",
    "saves {ram} of RAM and {seconds} s of loading at boot (at {rate})":
        "省下内存 {ram}，开机读入少用 {seconds} 秒（读速 {rate}）",
    "saves {size} of disk space ({chain} boots from the file: no RAM to save)":
        "省下磁盘空间 {size}（{chain} 直接从文件启动，不占内存，无内存可省）",
    "step {n}: {step}": "第 {n} 步：{step}",
    "--headroom must not be negative and --ssd-read must be positive":
        "--headroom 不能为负数，--ssd-read 必须大于 0",
    "nothing to do: the VHD is already no larger than this": "无需操作：VHD 已经不比这更大",
    "shrink the Windows partition to {ntfs} in place: on Windows, diskpart: select vdisk "
    "file=IMAGE, attach vdisk, select partition {n}, shrink desired={mb}, detach vdisk (Windows "
    "may stop short of it at files it cannot move: pagefile, hibernation file, restore points; "
    "`ramos script slim` removes them); or on Linux: {command}, then diskkit part resize "
    "{image} {n} --size {bytes}":
        "就地把 Windows 分区压缩到 {ntfs}：在 Windows 上用 diskpart：select vdisk file=映像, "
        "attach vdisk, select partition {n}, shrink desired={mb}, detach vdisk（遇到无法移动的"
        "文件会提前停下：页面文件、休眠文件、还原点；`ramos script slim` 可删掉它们）；或在 "
        "Linux 上：{command}，再 diskkit part resize {image} {n} --size {bytes}",
    "cut the image to the new size: diskkit resize {image} --size {size}":
        "把映像截到新大小：diskkit resize {image} --size {size}",
    "or re-capture: wimcapture (Linux) or DISM /Capture-Image (Windows) the Windows partition "
    "into a WIM, diskkit ramos init NEW.vhd --size {size} --chain {chain}, then diskkit ramos "
    "script deploy --vhd NEW.vhd --wim WIM --index 1 applies it":
        "或者重新捕获：用 wimcapture（Linux）或 DISM /Capture-Image（Windows）把 Windows 分区"
        "捕获成 WIM，diskkit ramos init NEW.vhd --size {size} --chain {chain}，再由 diskkit "
        "ramos script deploy --vhd NEW.vhd --wim WIM --index 1 释放进去",
    "partition {n} holds no NTFS": "分区 {n} 上没有 NTFS",
    "no NTFS partition in this image: nothing to plan from": "映像里没有 NTFS 分区：无从规划",
    "several NTFS partitions and none holds \\Windows: choose one with --part N":
        "有多个 NTFS 分区，且都没有 \\Windows：用 --part N 指定一个",
    "{path}: {where}: NTFS not clean ({reason}), so its used space is not final: start Windows "
    "and shut it down fully (shutdown /s /t 0, or turn Fast Startup off), then plan again":
        "{path}：{where}：NTFS 未正常关闭（{reason}），已用空间还会变：启动 Windows 并完全关机"
        "（shutdown /s /t 0，或关闭快速启动），再重新规划",
    "give --vhd-size and --ram, or --from IMAGE": "请给出 --vhd-size 和 --ram，或者 --from 映像",
    "--part and --headroom go with --from IMAGE": "--part 和 --headroom 要与 --from 映像 一起用",
    "--from IMAGE computes the VHD size: leave out --vhd-size":
        "--from 映像 会算出 VHD 大小：不要再给 --vhd-size",
    "wrote {out}: run it on Windows as administrator": "已写入 {out}：请在 Windows 上以管理员身份运行",
}
