"""Template filters shared by every page."""
import math

from handlers.catalog import local_dt, mask_id


def file_size(value) -> str:
    value = value or 0
    if value >= 1024 * 1024:
        return f"{value / 1024 / 1024:.1f} MB"
    return f"{max(1, math.ceil(value / 1024))} KB"


def init_app(app) -> None:
    app.add_template_filter(local_dt)
    app.add_template_filter(mask_id)
    app.add_template_filter(file_size)
