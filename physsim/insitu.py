"""In-situ training: Adam on a device's parameters, with gradients measured on the device.

:func:`train_in_situ` is the one training loop of a single device (the demo and
the sweeps' ``training`` metric call it).  At every step it builds the device
from the current trainable parameters, measures the gradient of the loss on it
by RHEL (:func:`physsim.rhel.rhel_gradient`, the physical rule) or by BPTT
(:func:`physsim.bptt.bptt_gradient`, the reference), maps the gradient onto the
trainable parameters and takes one Adam step.

Training in situ happens on *one chip*: with a hardware model, its device
instance (static mismatch, parameter quantisation) is drawn once from
``chip_seed`` (:class:`physsim.hardware.FixedChip`), while the per-step noise
is fresh at every training step (``noise_seeds``).

What is trained is set by a :class:`Parametrisation`: the system's own named
parameters with lower bounds (:class:`NamedParameters`), or any map from
trainable values to a device with the chain rule of its gradient (the demo
trains log-masses and log-springs).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .bptt import bptt_gradient, loss_of
from .hardware import FixedChip, HardwareModel, resolve_hardware
from .losses import Loss
from .nn.optim import Adam
from .rhel import rhel_gradient
from .systems.base import HamiltonianSystem
from .validation import check_choice

#: Learning rules of :func:`train_in_situ`.
TRAINING_RULES = ("rhel", "bptt")

#: Lower bounds of constrained parameters of the built-in systems, as (absolute floor,
#: floor relative to the smallest positive initial value), keyed by (class name,
#: parameter name): :class:`NamedParameters` projects onto them after every Adam step.
PARAMETER_FLOORS: dict[tuple[str, str], tuple[float, float]] = {
    ("LinearHRU", "A"): (0.0, 0.0),
    ("LinearHRU", "step"): (0.0, 1e-3),
    ("NonlinearHRU", "alpha"): (0.0, 0.0),
    ("NonlinearHRU", "step"): (0.0, 1e-3),
    ("CoupledOscillators", "mass"): (0.0, 1e-3),
}


class Parametrisation(abc.ABC):
    """How trainable values make a device, and how its gradient reaches them.

    Subclasses implement :meth:`to_system` and :meth:`chain`; :meth:`project`
    (after every optimiser step) is the identity unless overridden.
    """

    @abc.abstractmethod
    def to_system(self, theta: dict[str, np.ndarray]) -> HamiltonianSystem:
        """The device the trainable values ``theta`` describe."""

    @abc.abstractmethod
    def chain(self, theta: dict[str, np.ndarray], grads: dict[str, np.ndarray]
              ) -> dict[str, np.ndarray]:
        """Gradients of the trainable values from the device's parameter gradients.

        Parameters
        ----------
        theta : dict of str to ndarray
            Current trainable values.
        grads : dict of str to ndarray
            Gradient per named device parameter (``GradientResult.params``).

        Returns
        -------
        dict of str to ndarray
            Gradient per trainable value (the keys and shapes of ``theta``).
        """

    def project(self, theta: dict[str, np.ndarray]) -> None:
        """Bring ``theta`` back into its domain, in place (default: nothing to do)."""


@dataclass
class NamedParameters(Parametrisation):
    """Train some of a system's own named parameters, kept above lower bounds.

    Build with :meth:`of`.

    Attributes
    ----------
    system : HamiltonianSystem
        The nominal device; the untrained parameters are taken from it.
    names : tuple of str
        The trained parameters.
    floors : dict of str to float
        Lower bound per constrained parameter (see :data:`PARAMETER_FLOORS`).
    """

    system: HamiltonianSystem
    names: tuple[str, ...]
    floors: dict[str, float]

    @classmethod
    def of(cls, system: HamiltonianSystem, names: Sequence[str] | None = None
           ) -> NamedParameters:
        """The parametrisation training ``names`` (default: every parameter) of ``system``.

        Raises
        ------
        ValueError
            For names that are not parameters of ``system``, listing the valid ones.
        """
        names = tuple(names or system.param_names)
        unknown = set(names) - set(system.param_names)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} to train; valid names "
                             f"are: {', '.join(system.param_names)}")
        cls_name = type(system).__name__
        floors = {}
        for n in names:
            absolute, relative = PARAMETER_FLOORS.get((cls_name, n), (None, None))
            if absolute is not None:
                value = np.asarray(system.params[n], dtype=float)
                positive = value[value > 0]
                floors[n] = max(absolute, relative * float(positive.min()) if positive.size
                                else 0.0)
        return cls(system, names, floors)

    def initial(self) -> dict[str, np.ndarray]:
        """The trained parameters' current values (float64 copies)."""
        return {n: np.array(v, dtype=float) for n, v in self.system.params.items()
                if n in self.names}

    def to_system(self, theta: dict[str, np.ndarray]) -> HamiltonianSystem:
        """The nominal device with the trained parameters set to ``theta``."""
        return self.system.replace(**{n: (float(v) if v.ndim == 0 else v.copy())
                                      for n, v in theta.items()})

    def chain(self, theta, grads):
        """The gradients of the trained parameters themselves."""
        return {n: np.asarray(grads[n], float) for n in self.names}

    def project(self, theta):
        """Clip the constrained parameters at their floors, in place."""
        for n, lo in self.floors.items():
            np.maximum(theta[n], lo, out=theta[n])


@dataclass
class InSituResult:
    """Outcome of :func:`train_in_situ`.

    Attributes
    ----------
    theta : dict of str to ndarray
        Trained values.
    system : HamiltonianSystem
        The nominal device they describe (the chip realises it).
    losses : ndarray, shape (steps,)
        Loss measured at each step, before its update (on the chip, with that
        step's noise).
    chip : HardwareModel or None
        The hardware the training ran on (None: ideal), for evaluating the
        trained device on the same chip.
    """

    theta: dict[str, np.ndarray]
    system: HamiltonianSystem
    losses: np.ndarray
    chip: HardwareModel | None


def train_in_situ(parametrisation: Parametrisation, theta0: dict[str, np.ndarray], q0, p0,
                  inputs, loss: Loss, *, steps: int, lr: float, rule: str = "rhel",
                  hardware: HardwareModel | str | None = None, chip_seed: int = 0,
                  noise_seeds: Sequence[int] | None = None, n_steps: int | None = None,
                  dt: float | None = None, integrator: str = "leapfrog", dtype=np.float64,
                  rhel_options: dict[str, Any] | None = None, progress: bool = False,
                  label: str = "in-situ training") -> InSituResult:
    """Train a device by Adam with gradients measured on it (RHEL) or by BPTT.

    Parameters
    ----------
    parametrisation : Parametrisation
        Trainable values -> device, and the chain rule of the gradient.
    theta0 : dict of str to ndarray
        Initial trainable values (copied).
    q0, p0, inputs : array_like
        Initial state and input sequence of the task, as in
        :func:`physsim.rhel.rhel_gradient`.
    loss : Loss
        The task's loss.
    steps : int
        Adam steps.
    lr : float
        Adam learning rate.
    rule : {"rhel", "bptt"}
        Gradient of each step: measured by RHEL on the chip, or by BPTT (which
        refuses hardware with per-step noise).
    hardware : HardwareModel or str, optional
        Hardware model or preset (None: the ideal device).
    chip_seed : int
        Seed of the chip's device instance (drawn once).
    noise_seeds : sequence of int, optional
        Seed of the per-step noise of each training step (default ``0 ..
        steps-1``).
    n_steps, dt, integrator, dtype
        Simulation settings, as in :func:`physsim.simulate`.
    rhel_options : dict, optional
        Further options of :func:`physsim.rhel.rhel_gradient` (``eps``,
        ``relative_nudge``, ``estimator``, ``nudge``).
    progress : bool
        Show a progress bar labelled ``label``.
    label : str
        Label of the progress bar.

    Returns
    -------
    InSituResult

    Raises
    ------
    TypeError
        If ``parametrisation`` is not a :class:`Parametrisation`.
    ValueError
        For a non-positive ``steps``, an unknown rule, or ``noise_seeds`` of
        another length than ``steps``.
    """
    if not isinstance(parametrisation, Parametrisation):
        raise TypeError(f"parametrisation must be a physsim.insitu.Parametrisation, got "
                        f"{type(parametrisation).__name__}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"training steps must be a positive integer, got {steps!r}")
    check_choice(rule, TRAINING_RULES, "training rule")
    seeds = list(range(steps)) if noise_seeds is None else [int(s) for s in noise_seeds]
    if len(seeds) != steps:
        raise ValueError(f"noise_seeds must hold one seed per step ({steps}), got {len(seeds)}")
    chip = None if hardware is None else FixedChip(resolve_hardware(hardware), chip_seed)
    settings = dict(n_steps=n_steps, dt=dt, integrator=integrator, dtype=dtype)
    theta = {k: np.array(v, dtype=float) for k, v in theta0.items()}
    opt = Adam(lr=lr)
    losses = np.full(steps, np.nan)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415 (only when asked)

        bar = tqdm(total=steps, desc=label, leave=False)
    for k, seed in enumerate(seeds):
        system = parametrisation.to_system(theta)
        if rule == "rhel":
            g = rhel_gradient(system, q0, p0, inputs, loss, hardware=chip, seed=seed,
                              input_gradient=False, **settings, **(rhel_options or {}))
        else:
            g = bptt_gradient(system, q0, p0, inputs, loss, hardware=chip, seed=seed, **settings)
        losses[k] = g.loss if g.loss is not None else \
            loss_of(system, q0, p0, inputs, loss, hardware=chip, seed=seed, **settings)
        opt.step(theta, parametrisation.chain(theta, g.params))
        parametrisation.project(theta)
        if bar is not None:
            bar.set_postfix(loss=f"{losses[k]:.3e}")
            bar.update()
    if bar is not None:
        bar.close()
    return InSituResult(theta=theta, system=parametrisation.to_system(theta), losses=losses,
                        chip=chip)
