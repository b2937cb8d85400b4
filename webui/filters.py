"""Template filters shared by every page."""
import math
from datetime import date, datetime, timedelta

LOCAL_OFFSET = timedelta(hours=8)   # stored times are UTC; the province lives in China Standard Time


def local_dt(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        return (value + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def mask_id(value) -> str:
    """An ID-card number with the middle digits hidden."""
    value = value or ""
    if len(value) < 10:
        return value
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def file_size(value) -> str:
    value = value or 0
    if value >= 1024 * 1024:
        return f"{value / 1024 / 1024:.1f} MB"
    return f"{max(1, math.ceil(value / 1024))} KB"


def init_app(app) -> None:
    app.add_template_filter(local_dt)
    app.add_template_filter(mask_id)
    app.add_template_filter(file_size)
