r"""Source waveforms of SPICE transient analysis: value and time integral in closed form.

Each waveform gives its value :math:`w(t)` (A for a current source, V for a
voltage source) and its integral :math:`\int_0^t w\,dt'` (C or Wb), both
vectorised over ``t`` (s).  A voltage source drives a circuit through its
flux, the integral of its voltage, so the integral is needed exactly; the
closed forms below avoid any quadrature error.  Definitions follow the
ngspice manual (section 4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dc:
    """A constant: ``DC value``.

    Attributes
    ----------
    value : float
        A or V.
    """

    value: float

    def at(self, t: np.ndarray) -> np.ndarray:
        """Value at times ``t`` (s), same shape."""
        return np.full(np.shape(t), self.value)

    def integral(self, t: np.ndarray) -> np.ndarray:
        """Integral from 0 to ``t`` (s), same shape."""
        return self.value * np.asarray(t, float)

    def spice(self) -> str:
        """The waveform as a SPICE source specification."""
        return f"DC {self.value!r}"


@dataclass(frozen=True)
class Sin:
    r"""``SIN(VO VA FREQ TD THETA PHASE)``.

    :math:`w = V_O` for :math:`t < T_D`, else
    :math:`V_O + V_A e^{-\theta(t - T_D)} \sin(2\pi f (t - T_D) + \phi)`.

    Attributes
    ----------
    offset : float
        ``VO`` (A or V).
    amplitude : float
        ``VA`` (A or V).
    frequency : float
        ``FREQ`` (Hz).
    delay : float
        ``TD`` (s).
    damping : float
        ``THETA`` (1/s).
    phase : float
        ``PHASE`` (degrees, as in ngspice).
    """

    offset: float
    amplitude: float
    frequency: float
    delay: float = 0.0
    damping: float = 0.0
    phase: float = 0.0

    def at(self, t: np.ndarray) -> np.ndarray:
        """Value at times ``t`` (s), same shape."""
        s = np.maximum(np.asarray(t, float) - self.delay, 0.0)  # before TD: the value at TD
        return self.offset + self.amplitude * np.exp(-self.damping * s) * np.sin(
            2 * np.pi * self.frequency * s + math.radians(self.phase))

    def integral(self, t: np.ndarray) -> np.ndarray:
        """Integral from 0 to ``t`` (s), same shape."""
        t = np.asarray(t, float)
        s = np.maximum(t - self.delay, 0.0)
        w, a = 2 * np.pi * self.frequency, self.damping
        phi = math.radians(self.phase)
        before = self.amplitude * math.sin(phi) * np.minimum(t, self.delay)

        def primitive(x):
            # d/dx of e^{-a x}(-a sin(w x + phi) - w cos(w x + phi)) / (a^2 + w^2)
            return np.exp(-a * x) * (-a * np.sin(w * x + phi) - w * np.cos(w * x + phi)) / (
                a * a + w * w)

        return self.offset * t + before + self.amplitude * (primitive(s) - primitive(0.0))

    def spice(self) -> str:
        """The waveform as a SPICE source specification."""
        return (f"SIN({self.offset!r} {self.amplitude!r} {self.frequency!r} {self.delay!r} "
                f"{self.damping!r} {self.phase!r})")


@dataclass(frozen=True)
class Pwl:
    """``PWL(T1 V1 T2 V2 ...)``: linear between points, constant before and after.

    Attributes
    ----------
    times : tuple of float
        Strictly increasing times (s).
    values : tuple of float
        Values there (A or V).
    """

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values) or not self.times:
            raise ValueError("PWL needs pairs of (time, value), at least one")
        if any(b <= a for a, b in zip(self.times, self.times[1:])):
            raise ValueError(f"PWL times must increase strictly, got {list(self.times)}")

    def at(self, t: np.ndarray) -> np.ndarray:
        """Value at times ``t`` (s), same shape."""
        return np.interp(np.asarray(t, float), self.times, self.values)

    def integral(self, t: np.ndarray) -> np.ndarray:
        """Integral from 0 to ``t`` (s), same shape (exact: trapezoids of a linear function)."""
        t = np.asarray(t, float)
        # knots: 0, the PWL times, and t itself; the integrand is linear between knots
        knots = np.array(sorted({0.0, *self.times}))
        vals = np.interp(knots, self.times, self.values)
        cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (vals[1:] + vals[:-1])
                                                      * np.diff(knots))])
        k = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, knots.size - 1)
        left = knots[k]
        v_left = vals[k]
        v_t = np.interp(t, self.times, self.values)
        out = cumulative[k] + 0.5 * (v_left + v_t) * (t - left)
        # knots start at 0 even if the first PWL time is later: nothing to fix for t >= 0
        return np.where(t >= 0, out, 0.0)

    def spice(self) -> str:
        """The waveform as a SPICE source specification."""
        pairs = " ".join(f"{t!r} {v!r}" for t, v in zip(self.times, self.values))
        return f"PWL({pairs})"


@dataclass(frozen=True)
class Pulse:
    """``PULSE(V1 V2 TD TR TF PW PER)``: a periodic trapezoidal pulse.

    Attributes
    ----------
    initial, pulsed : float
        ``V1`` and ``V2`` (A or V).
    delay, rise, fall, width, period : float
        ``TD``, ``TR``, ``TF``, ``PW``, ``PER`` (s); ``TR``, ``TF`` and ``PER``
        positive.  Within each period the shape is cut at ``PER``.
    """

    initial: float
    pulsed: float
    delay: float
    rise: float
    fall: float
    width: float
    period: float

    def __post_init__(self) -> None:
        if self.rise <= 0 or self.fall <= 0 or self.width < 0 or self.delay < 0:
            raise ValueError("PULSE needs TR > 0, TF > 0, PW >= 0 and TD >= 0")
        if self.period <= 0:
            raise ValueError(f"PULSE needs PER > 0, got {self.period!r}")

    def _one_period(self) -> Pwl:
        """The shape from the start of a period; cut at ``PER`` if ``TR + PW + TF`` exceeds it
        (as ngspice does: with its default PW = PER = TSTOP the pulse never falls)."""
        t1 = self.rise
        t2 = t1 + self.width
        t3 = t2 + self.fall
        knots = [(0.0, self.initial), (t1, self.pulsed)]
        if t2 > t1:
            knots.append((t2, self.pulsed))
        knots.append((t3, self.initial))
        if self.period > t3:
            knots.append((self.period, self.initial))
        return Pwl(tuple(k[0] for k in knots), tuple(k[1] for k in knots))

    def at(self, t: np.ndarray) -> np.ndarray:
        """Value at times ``t`` (s), same shape."""
        t = np.asarray(t, float)
        s = np.mod(np.maximum(t - self.delay, 0.0), self.period)
        return np.where(t < self.delay, self.initial, self._one_period().at(s))

    def integral(self, t: np.ndarray) -> np.ndarray:
        """Integral from 0 to ``t`` (s), same shape."""
        t = np.asarray(t, float)
        shape = self._one_period()
        elapsed = np.maximum(t - self.delay, 0.0)
        periods = np.floor(elapsed / self.period)
        s = elapsed - periods * self.period
        per_period = float(shape.integral(np.array(self.period)))
        return (self.initial * np.minimum(t, self.delay) + periods * per_period
                + shape.integral(s))

    def spice(self) -> str:
        """The waveform as a SPICE source specification."""
        return (f"PULSE({self.initial!r} {self.pulsed!r} {self.delay!r} {self.rise!r} "
                f"{self.fall!r} {self.width!r} {self.period!r})")


#: Any source waveform.
Waveform = Dc | Sin | Pwl | Pulse
