from datetime import date, datetime

from webui.filters import file_size, local_dt, mask_id


def test_times_are_shown_in_china_standard_time():
    assert local_dt(datetime(2026, 11, 21, 16, 30)) == "2026-11-22 00:30"
    assert local_dt(date(2026, 11, 21)) == "2026-11-21"
    assert local_dt(None) == ""


def test_id_card_numbers_are_masked_in_lists():
    assert mask_id("53010219800101046X") == "530102********046X"


def test_file_sizes_are_readable():
    assert file_size(10) == "1 KB"
    assert file_size(3 * 1024 * 1024) == "3.0 MB"
