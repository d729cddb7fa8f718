"""简体中文 for sqladmin's own words (its catalog has no Chinese and Babel is not installed): installed
as the console's gettext, so "Save", "Logout", paging and so on read in Chinese. Submit buttons keep
their English values (the console's templates show Chinese text on them) because sqladmin decides where
to go after saving by the button's value."""

from __future__ import annotations

from typing import Final

ZH: Final[dict[str, str]] = {
    "List": "列表",
    "Details": "详情",
    "Create": "新建",
    "Edit": "编辑",
    "Delete": "删除",
    "Export": "导出",
    "Import": "导入",
    "Access": "访问",
    "Page": "页面",
    "Permissions": "权限",
    "You are not allowed to grant: %(permissions)s": "您无权授予：%(permissions)s",
    "New %(name)s": "新建%(name)s",
    "Cancel": "取消",
    "Save": "保存",
    "Save and continue editing": "保存并继续编辑",
    "Save and add another": "保存并新建下一条",
    "Column": "字段",
    "Value": "值",
    "Go Back": "返回",
    "Edit %(name)s": "编辑%(name)s",
    "Save as new": "另存为新记录",
    "Logout": "退出登录",
    "Language": "语言",
    "Import CSV": "导入 CSV",
    "You are not authorized to view these records.": "您无权查看这些记录。",
    "Actions": "操作",
    "Delete selected items": "删除所选",
    "Search": "搜索",
    "Select all": "全选",
    "Select item": "选择",
    "View": "查看",
    "Showing %(start)s to %(end)s of %(count)s items": "第 %(start)s–%(end)s 条，共 %(count)s 条",
    "prev": "上一页",
    "next": "下一页",
    "Show": "每页",
    "%(size)s / Page": "%(size)s 条/页",
    "Filters": "筛选",
    "Login to %(title)s": "登录%(title)s",
    "Username": "账号",
    "Enter username": "请输入账号",
    "Password": "密码",
    "Login": "登录",
    "Close": "关闭",
    "Done": "完成",
    "Clear filter": "清除筛选",
    "Apply Filter": "应用筛选",
    "Please confirm": "请确认",
    "Yes": "确定",
    "Choose CSV file": "选择 CSV 文件",
    "No file selected": "未选择文件",
    "Skip invalid rows and continue import": "跳过无效行继续导入",
    "Import progress": "导入进度",
    "%(processed)s/%(total)s rows processed": "已处理 %(processed)s/%(total)s 行",
    "Import result": "导入结果",
    "Missed rows": "未导入的行",
    "Download CSV": "下载 CSV",
    "Download TXT": "下载 TXT",
    "Refresh list": "刷新列表",
    "Invalid credentials.": "账号或密码错误，或该账号无权登录管理后台。",
}


def gettext(message: str) -> str:
    return ZH.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return ZH.get(singular if n == 1 else plural, singular if n == 1 else plural)
