"""A readable name for the computer that asks to log in (扫码登录): browser and system from its
User-Agent. Enough to tell "Chrome · Windows" from "Safari · macOS"; an unknown agent is named as such."""
import re

# order matters: Edge and Opera also claim Chrome, Chrome also claims Safari
_BROWSERS = [(r"Edg(?:e|A|iOS)?/(\d+)", "Edge"), (r"OPR/(\d+)", "Opera"), (r"Firefox/(\d+)", "Firefox"),
             (r"(?:Chrome|CriOS)/(\d+)", "Chrome"), (r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/", "Safari"),
             (r"MSIE (\d+)|Trident/.*rv:(\d+)", "Internet Explorer")]
_SYSTEMS = [(r"Windows NT", "Windows"), (r"iPhone|iPad", "iOS"), (r"Android", "Android"),
            (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux")]


def describe(agent: str | None) -> str:
    """E.g. "Chrome 126 · Windows"; "未知浏览器" when nothing is recognised."""
    agent = agent or ""
    browser = next((f"{name} {next(g for g in m.groups() if g)}" for pattern, name in _BROWSERS
                    if (m := re.search(pattern, agent))), "未知浏览器")
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, agent)), "")
    return f"{browser} · {system}" if system else browser
