"""Power and thermal sources: what the shifter knows about battery, power and heat.

Every source has ``.read()`` returning a :class:`PowerState` whose fields are
``None`` where unknown. The sysfs sources (and :func:`auto`) take ``root=``
(default ``/sys``) so a fake tree can stand in for the real one. A source
never raises from ``read()`` and never stops inference: when it can read
nothing it warns once (``RuntimeWarning``), returns an empty state, and the
shifter falls back to latency alone. docs/POWER.md lists the files and units.

    import gearshift as gs
    src = gs.power.auto()          # what this machine has
    src.read()                     # PowerState(charge_pct=57.0, charging=False, ...)
"""

from __future__ import annotations

import bisect
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Union

from gearshift._extension import load_core

_core = load_core()  # ImportError saying how to build it when missing

__all__ = [
    "Callback",
    "Composite",
    "Jetson",
    "PowerState",
    "PowerSupply",
    "RaspberryPi",
    "Source",
    "Thermal",
    "Trace",
    "auto",
]


@dataclass(frozen=True)
class PowerState:
    """One reading; each field is ``None`` where the source does not know it."""

    charge_pct: float | None = None  # battery charge, 0..100
    charging: bool | None = None  # on external power (mains/USB) or charging
    power_w: float | None = None  # power drawn by the battery or the board, W
    temp_c: float | None = None  # hottest (or selected) thermal zone, °C
    throttled: bool | None = None  # the SoC is throttled or frequency-capped now
    under_voltage: bool | None = None  # supply voltage too low now (Raspberry Pi)

    def merged(self, other: PowerState) -> PowerState:
        """Fields of ``self``, with the unset ones taken from ``other``."""
        return PowerState(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(other, f.name)
                for f in fields(self)
            }
        )

    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


StateLike = Union[PowerState, Mapping[str, Any], None]


def as_state(value: StateLike) -> PowerState:
    """A PowerState from a PowerState, a dict with (some of) its fields, or None."""
    if value is None:
        return PowerState()
    if isinstance(value, PowerState):
        return value
    if isinstance(value, Mapping):
        names = {f.name for f in fields(PowerState)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(
                f"unknown PowerState field(s) {unknown}; expected some of {sorted(names)}"
            )
        return PowerState(**dict(value))
    raise ValueError(f"expected a PowerState, a dict or None, got {type(value).__name__}")


class Source:
    """Base class: ``read()`` never raises; the first failure warns once."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self._warned = False

    def describe(self) -> str:
        return type(self).__name__

    def _read(self) -> tuple[PowerState, str | None]:
        raise NotImplementedError

    def read(self) -> PowerState:
        """The current state; empty (all ``None``) when nothing could be read."""
        try:
            state, error = self._read()
        except Exception as e:  # a source must never stop inference
            state, error = PowerState(), f"{type(e).__name__}: {e}"
        self.last_error = error
        if error is not None and not self._warned:
            self._warned = True
            warnings.warn(
                f"gearshift: power source {self.describe()} unreadable ({error}); "
                "shifting on latency alone",
                RuntimeWarning,
                stacklevel=2,
            )
        return state

    def __repr__(self) -> str:
        return f"gearshift.power.{self.describe()}"


class _CoreSource(Source):
    def __init__(self, core: Any) -> None:
        super().__init__()
        self._core = core

    def describe(self) -> str:
        return str(self._core.describe())

    def _read(self) -> tuple[PowerState, str | None]:
        d, error = self._core.read()
        return PowerState(**d), error


class PowerSupply(_CoreSource):
    """``class/power_supply``: batteries (capacity, status, power) and mains (online)."""

    def __init__(self, root: str | os.PathLike[str] = "/sys") -> None:
        super().__init__(_core.power_supply_source(os.fspath(root)))


class Jetson(_CoreSource):
    """NVIDIA Jetson INA3221 rail monitors (hwmon or iio): board power in W."""

    def __init__(self, root: str | os.PathLike[str] = "/sys") -> None:
        super().__init__(_core.jetson_source(os.fspath(root)))


class RaspberryPi(_CoreSource):
    """Raspberry Pi firmware flags: throttled and under_voltage.

    Reads ``get_throttled`` from sysfs, else runs ``vcgencmd get_throttled``
    through ``runner`` (a callable taking the command line and returning its
    output or None). ``runner=None`` uses the real vcgencmd when ``root`` is
    ``/sys`` and one is on ``$PATH``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = "/sys",
        runner: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(_core.rpi_source(os.fspath(root), runner))


class Thermal(_CoreSource):
    """``class/thermal/thermal_zone*/temp``: the hottest zone, or the hottest of ``zone_type``."""

    def __init__(self, root: str | os.PathLike[str] = "/sys", zone_type: str | None = None) -> None:
        super().__init__(_core.thermal_source(os.fspath(root), zone_type or ""))


class Callback(Source):
    """The application knows its battery: ``fn()`` returns a PowerState, a dict or None."""

    def __init__(self, fn: Callable[[], StateLike]) -> None:
        super().__init__()
        if not callable(fn):
            raise ValueError(f"Callback needs a callable, got {fn!r}")
        self._fn = fn

    def describe(self) -> str:
        return f"Callback({getattr(self._fn, '__name__', 'fn')})"

    def _read(self) -> tuple[PowerState, str | None]:
        return as_state(self._fn()), None


class Trace(Source):
    """Plays a CSV ``time_s,charge_pct,charging,temp_c`` (charging 0/1, temp_c may be empty).

    ``read()`` returns the last row at or before trace time
    ``first time_s + (clock() - start) * speed``; ``speed=60`` plays an hour in
    a minute. ``clock`` (seconds, default ``time.monotonic``) is injectable so
    tests and simulations step through time without sleeping; ``state_at(t)``
    reads any trace time directly.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.path = os.fspath(path)
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed > 0:
            raise ValueError(f"speed must be a number > 0, got {speed!r}")
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        self.rows: list[tuple[float, float, bool, float | None]] = [
            tuple(r) for r in _core.trace_parse(text, self.path)
        ]
        self._times = [r[0] for r in self.rows]
        self.speed = float(speed)
        self._clock = clock or time.monotonic
        self._start = self._clock()

    def describe(self) -> str:
        return f"Trace({self.path!r}, speed={self.speed:g})"

    @property
    def duration_s(self) -> float:
        return self._times[-1] - self._times[0]

    def now(self) -> float:
        """The trace time now, on the CSV's own time axis."""
        return self._times[0] + (self._clock() - self._start) * self.speed

    def state_at(self, t: float) -> PowerState:
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        _, charge, charging, temp = self.rows[i]
        return PowerState(charge_pct=charge, charging=charging, temp_c=temp)

    def _read(self) -> tuple[PowerState, str | None]:
        return self.state_at(self.now()), None


class Composite(Source):
    """Several sources merged: per field, the first source that reports it wins."""

    def __init__(self, *sources: Source) -> None:
        super().__init__()
        self.sources = list(sources)

    def describe(self) -> str:
        return "Composite(" + ", ".join(s.describe() for s in self.sources) + ")"

    def read(self) -> PowerState:
        # Each part warns for itself (once); the composite only merges.
        state = PowerState()
        for s in self.sources:
            state = state.merged(s.read())
        errors = [s.last_error for s in self.sources if s.last_error]
        self.last_error = "; ".join(errors) if state.empty() and errors else None
        return state

    def _read(self) -> tuple[PowerState, str | None]:  # pragma: no cover - read() overrides
        return self.read(), self.last_error


_KINDS: dict[str, Callable[[str], Source]] = {
    "power_supply": PowerSupply,
    "jetson_ina3221": Jetson,
    "rpi_throttle": RaspberryPi,
    "thermal": Thermal,
}


def auto(root: str | os.PathLike[str] = "/sys") -> Composite:
    """The sources whose files exist under ``root``: power_supply, Jetson, Raspberry Pi, thermal.

    May hold none (a container): then ``read()`` returns an empty state and the
    shifter works on latency alone, without a warning.
    """
    r = os.fspath(root)
    return Composite(*(_KINDS[k](r) for k in _core.power_detect(r)))
