"""简体中文: the HTML page of ``info --html`` and ``ramos doctor --html``."""

MESSAGES = {
    "{path}: {container} image, {size}": "{path}：{container} 镜像，{size}",
    "free {size}": "未分配 {size}",
    "partition {index} {name}, {size} at byte {start}": "分区 {index} {name}，{size}，起点字节 {start}",
    ", {used} used": "，已用 {used}",
    "start": "起点",
    "type": "类型",
    "name": "名称",
    "filesystem": "文件系统",
    "label": "卷标",
    "used": "已用",
    "Warnings": "警告",
    "Boot layers": "两层引导",
    "Outer layer: the machine's ESP": "外层：本机的 ESP",
    "loader of {chain}": "{chain} 的加载器",
    "its config": "它的配置文件",
    "copies {image} into RAM": "把 {image} 读入内存",
    "Inner layer: inside the VHD": "内层：VHD 里面",
    "VHD's ESP (partition {index})": "VHD 的 ESP（分区 {index}）",
    "BCD default {entry}": "BCD 默认启动项 {entry}",
    "the boot manager (outside the VHD) opens the RAM disk at the Windows offset":
        "启动管理器（在 VHD 外面）按 Windows 分区的偏移打开内存盘",
    "Windows partition {index} at byte {offset}": "Windows 分区 {index}，起点字节 {offset}",
    "not read": "未读取",
    "section": "部分",
    "finding": "检查结果",
}
