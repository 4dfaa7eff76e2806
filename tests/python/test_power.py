"""gs.power sources against fake sysfs trees in tmp_path (the real layouts), traces
with an injected clock, callbacks, the composite and auto(). Missing files,
garbage values and unreadable files leave fields None; a source that reads
nothing warns once and never raises."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import gearshift as gs
from gearshift.power import PowerState

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


def battery(root: Path, name: str = "BAT0", capacity: str = "57", status: str = "Discharging"):
    d = f"class/power_supply/{name}/"
    write(root, d + "type", "Battery")
    write(root, d + "capacity", capacity)
    write(root, d + "status", status)
    return d


def test_power_state_fields_and_merge() -> None:
    s = PowerState(charge_pct=40.0).merged(PowerState(charge_pct=90.0, temp_c=50.0))
    assert s == PowerState(charge_pct=40.0, temp_c=50.0)
    assert PowerState().empty() and not s.empty()
    assert set(s.to_dict()) == {
        "charge_pct",
        "charging",
        "power_w",
        "temp_c",
        "throttled",
        "under_voltage",
    }


def test_power_supply_battery_power_now_and_mains(tmp_path: Path) -> None:
    d = battery(tmp_path)
    write(tmp_path, d + "power_now", "7250000")  # µW
    s = gs.power.PowerSupply(root=tmp_path).read()
    assert s.charge_pct == 57 and s.power_w == pytest.approx(7.25) and s.charging is False
    assert s.temp_c is None and s.throttled is None
    write(tmp_path, "class/power_supply/AC/type", "Mains")
    write(tmp_path, "class/power_supply/AC/online", "1")
    assert gs.power.PowerSupply(root=str(tmp_path)).read().charging is True


def test_power_supply_current_times_voltage(tmp_path: Path) -> None:
    d = battery(tmp_path)
    write(tmp_path, d + "current_now", "-500000")  # µA
    write(tmp_path, d + "voltage_now", "12000000")  # µV
    assert gs.power.PowerSupply(root=tmp_path).read().power_w == pytest.approx(6.0)


def test_power_supply_garbage_values(tmp_path: Path) -> None:
    d = battery(tmp_path, capacity="lots")
    write(tmp_path, d + "power_now", "1e6")
    s = gs.power.PowerSupply(root=tmp_path).read()
    assert s.charge_pct is None and s.power_w is None and s.charging is False


def test_missing_tree_warns_once_and_never_raises(tmp_path: Path) -> None:
    src = gs.power.PowerSupply(root=tmp_path / "nothing")
    with pytest.warns(RuntimeWarning, match="unreadable.*latency alone"):
        assert src.read().empty()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert src.read().empty()  # no second warning
    assert "no power supply" in (src.last_error or "")


@pytest.mark.skipif(ROOT_USER, reason="chmod 000 does not stop root")
def test_unreadable_file(tmp_path: Path) -> None:
    d = battery(tmp_path)
    (tmp_path / d / "capacity").chmod(0)
    try:
        s = gs.power.PowerSupply(root=tmp_path).read()
        assert s.charge_pct is None and s.charging is False
    finally:
        (tmp_path / d / "capacity").chmod(0o644)


def test_folder_in_place_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "class/thermal/thermal_zone0/temp").mkdir(parents=True)
    write(tmp_path, "class/thermal/thermal_zone1/temp", "48000")
    assert gs.power.Thermal(root=tmp_path).read().temp_c == 48.0


def test_jetson_hwmon_and_iio(tmp_path: Path) -> None:
    h = "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon2/"
    for ch, label, mv, ma in [(1, "VDD_IN", 5000, 1400), (2, "VDD_CPU_GPU_CV", 5000, 500)]:
        write(tmp_path, f"{h}in{ch}_label", label)
        write(tmp_path, f"{h}in{ch}_input", str(mv))
        write(tmp_path, f"{h}curr{ch}_input", str(ma))
    assert gs.power.Jetson(root=tmp_path).read().power_w == pytest.approx(7.0)

    iio = tmp_path / "iio"
    i = "bus/i2c/drivers/ina3221x/6-0040/iio:device0/"
    write(iio, i + "rail_name_0", "VDD_CPU")
    write(iio, i + "in_power0_input", "1250")  # mW
    write(iio, i + "rail_name_1", "VDD_GPU")
    write(iio, i + "in_power1_input", "garbage")
    assert gs.power.Jetson(root=iio).read().power_w == pytest.approx(1.25)


def test_raspberry_pi_sysfs_and_vcgencmd_runner(tmp_path: Path) -> None:
    write(tmp_path, "devices/platform/soc/soc:firmware/get_throttled", "50005")
    s = gs.power.RaspberryPi(root=tmp_path).read()
    assert s.under_voltage is True and s.throttled is True

    calls: list[str] = []

    def runner(cmd: str) -> str | None:
        calls.append(cmd)
        return "throttled=0x0\n"

    s = gs.power.RaspberryPi(root=tmp_path / "nofile", runner=runner).read()
    assert calls == ["vcgencmd get_throttled"]
    assert s.throttled is False and s.under_voltage is False

    def broken(cmd: str) -> str | None:
        raise OSError("no vcgencmd")

    src = gs.power.RaspberryPi(root=tmp_path / "nofile", runner=broken)
    with pytest.warns(RuntimeWarning, match="throttling flags"):
        assert src.read().empty()


def test_thermal_hottest_and_zone_type(tmp_path: Path) -> None:
    write(tmp_path, "class/thermal/thermal_zone0/type", "cpu-thermal")
    write(tmp_path, "class/thermal/thermal_zone0/temp", "61000")
    write(tmp_path, "class/thermal/thermal_zone1/type", "gpu-thermal")
    write(tmp_path, "class/thermal/thermal_zone1/temp", "66500")
    write(tmp_path, "class/thermal/thermal_zone2/temp", "-273000")
    assert gs.power.Thermal(root=tmp_path).read().temp_c == 66.5
    assert gs.power.Thermal(root=tmp_path, zone_type="cpu-thermal").read().temp_c == 61.0


def test_callback_accepts_state_dict_or_none() -> None:
    assert gs.power.Callback(lambda: {"charge_pct": 12.0}).read().charge_pct == 12.0
    assert gs.power.Callback(lambda: PowerState(charging=True)).read().charging is True
    assert gs.power.Callback(lambda: None).read().empty()
    bad = gs.power.Callback(lambda: {"charge": 1})
    with pytest.warns(RuntimeWarning, match="unknown PowerState field"):
        assert bad.read().empty()
    with pytest.raises(ValueError):
        gs.power.Callback(42)  # type: ignore[arg-type]


def test_trace_plays_with_an_injected_clock(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time_s,charge_pct,charging,temp_c\n0,100,0,40\n60,90,0,\n120,80,1,55\n")
    now = [10.0]
    tr = gs.power.Trace(p, speed=60.0, clock=lambda: now[0])
    assert tr.read() == PowerState(charge_pct=100.0, charging=False, temp_c=40.0)
    now[0] += 1.0  # 60 trace seconds
    assert tr.read() == PowerState(charge_pct=90.0, charging=False, temp_c=None)
    now[0] += 100
    assert tr.read().charging is True
    assert tr.duration_s == 120 and tr.state_at(-1).charge_pct == 100
    assert len(tr.rows) == 3


def test_trace_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("time_s,charge_pct,charging,temp_c\n0,100,0,\n5,90,yes,\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: charging"):
        gs.power.Trace(p)
    with pytest.raises(ValueError, match="speed"):
        gs.power.Trace(p, speed=0)
    with pytest.raises(FileNotFoundError):
        gs.power.Trace(tmp_path / "none.csv")


def test_auto_finds_what_the_tree_has(tmp_path: Path) -> None:
    assert gs.power.auto(root=tmp_path).sources == []
    assert gs.power.auto(root=tmp_path).read().empty()
    battery(tmp_path, capacity="33")
    write(tmp_path, "class/thermal/thermal_zone0/temp", "52000")
    write(tmp_path, "devices/platform/soc/soc:firmware/get_throttled", "0x0")
    src = gs.power.auto(root=tmp_path)
    assert [type(s).__name__ for s in src.sources] == ["PowerSupply", "RaspberryPi", "Thermal"]
    s = src.read()
    assert (s.charge_pct, s.charging, s.temp_c, s.throttled) == (33.0, False, 52.0, False)


def test_composite_first_source_wins() -> None:
    c = gs.power.Composite(
        gs.power.Callback(lambda: {"charge_pct": 50.0}),
        gs.power.Callback(lambda: {"charge_pct": 10.0, "temp_c": 60.0}),
    )
    assert c.read() == PowerState(charge_pct=50.0, temp_c=60.0)
