"""HDF5 run files: every system saves and loads, a re-run from the file is bit-identical, and a
truncated or corrupted file of every kind gives a one-line error (no hang, no traceback)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
import pytest
import scipy.constants
from numba import njit

from physsim import CoupledOscillators, LinearHRU, NonlinearHRU, __version__, simulate
from physsim.examples import six_oscillators, three_node_josephson_circuit
from physsim.storage import (EncodingError, StorageError, atomic_write, attribute, attributes,
                             check_not_truncated, load_hardware_model, load_trajectory,
                             open_for_reading, read_system, read_value, save_trajectory,
                             write_system, write_value)
from physsim.storage.files import stored_end_of_file
from physsim.systems import HamiltonianSystem, SystemKernels, ThetaField
from physsim.systems.circuit import CircuitSystem, CircuitUnits


# ----------------------------------------------------------- a user-defined system
# An on-site quartic oscillator bank, H = sum p^2/2m + k q^4/4 - d q, theta = [1/m, k].
@njit(cache=True)
def _quartic_grad_kinetic(p, theta, out):
    for i in range(p.shape[0]):
        out[i] = theta[0] * p[i]


@njit(cache=True)
def _quartic_kinetic(p, theta):
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    return 0.5 * theta[0] * s


@njit(cache=True)
def _quartic_theta_grad_kinetic(p, theta, w, out):
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    out[0] += 0.5 * w * s


@njit(cache=True)
def _quartic_grad_potential(q, d, theta, out):
    for i in range(q.shape[0]):
        out[i] = theta[1] * q[i] * q[i] * q[i] - d[i]


@njit(cache=True)
def _quartic_potential(q, d, theta):
    s = 0.0
    for i in range(q.shape[0]):
        s += 0.25 * theta[1] * q[i] ** 4 - d[i] * q[i]
    return s


@njit(cache=True)
def _quartic_theta_grad_potential(q, d, theta, w, out):
    s = 0.0
    for i in range(q.shape[0]):
        s += q[i] ** 4
    out[1] += 0.25 * w * s


@njit(cache=True)
def _quartic_drive_grad_potential(q, d, theta, w, out):
    for i in range(q.shape[0]):
        out[i] -= w * q[i]


@dataclass(frozen=True, eq=False)
class QuarticBank(HamiltonianSystem):
    """A user-defined system with fields of several kinds (for the storage tests)."""

    mass: float
    stiffness: float
    input_matrix: np.ndarray
    label: str = "bank"
    unit_names: tuple[str, ...] = ()
    note: Any = None

    kernels: ClassVar[SystemKernels] = SystemKernels(
        grad_kinetic=_quartic_grad_kinetic, grad_potential=_quartic_grad_potential,
        kinetic=_quartic_kinetic, potential=_quartic_potential,
        theta_grad_kinetic=_quartic_theta_grad_kinetic,
        theta_grad_potential=_quartic_theta_grad_potential,
        drive_grad_potential=_quartic_drive_grad_potential)
    param_names: ClassVar[tuple[str, ...]] = ("mass", "stiffness", "input_matrix")

    @property
    def n_dof(self) -> int:
        return int(np.shape(self.input_matrix)[0])

    def _theta_blocks(self):
        return (ThetaField("inverse_mass", (1,)), ThetaField("stiffness", (1,)))

    def _pack_theta(self):
        return [np.array([1.0 / self.mass]), np.array([float(self.stiffness)])]

    def _gradient_to_params(self, g_theta, g_input_matrix):
        return {"mass": -g_theta["inverse_mass"][0] / self.mass ** 2,
                "stiffness": g_theta["stiffness"][0], "input_matrix": g_input_matrix}

    def max_frequency(self) -> float:
        # no global bound (the potential stiffens); this one holds for |q| <= 2
        return float(np.sqrt(3.0 * self.stiffness * 4.0 / self.mass))


def _systems() -> dict[str, HamiltonianSystem]:
    rng = np.random.default_rng(1)
    return {
        "six_oscillators": six_oscillators(),
        "coupled": CoupledOscillators(mass=np.array([1.0, 2.0]),
                                      stiffness=np.array([[2.0, -0.5], [-0.5, 1.0]]),
                                      input_matrix=np.array([[1.0], [0.0]])),
        "linear_hru_complex": LinearHRU.random(4, 2, complex=True, rng=0),
        "nonlinear_hru": NonlinearHRU.random(3, 2, step=0.05, rng=2),
        "circuit_si": three_node_josephson_circuit("SI"),
        "circuit_natural": three_node_josephson_circuit("natural"),
        "user": QuarticBank(mass=1.5, stiffness=0.7, input_matrix=rng.normal(size=(3, 2)),
                            label="test bank", unit_names=("x", "y", "z"),
                            note={"origin": "tests", "levels": (1, 2.5)}),
    }


SYSTEMS = _systems()


def assert_same_system(back: HamiltonianSystem, system: HamiltonianSystem) -> None:
    """Same class and every constructor field equal, with the same type (and dtype)."""
    assert type(back) is type(system)
    want, got = system.constructor_fields(), back.constructor_fields()
    assert set(got) == set(want)
    for name, value in want.items():
        if isinstance(value, np.ndarray) or isinstance(got[name], np.ndarray):
            assert isinstance(got[name], np.ndarray), name
            assert got[name].dtype == np.asarray(value).dtype, name
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            assert type(got[name]) is type(value), name
            assert got[name] == value, name


def _run(system: HamiltonianSystem, *, hardware=None, seed: int = 0):
    rng = np.random.default_rng(5)
    n_steps = 40
    u = 0.1 * rng.standard_normal((2, n_steps, system.n_inputs))
    q0 = 0.1 * rng.standard_normal((2, system.n_dof))
    dt = system.default_dt or 0.2 / system.max_frequency()
    if isinstance(system, CircuitSystem):
        # phases ~0.1 rad, source currents ~0.1 uA and source fluxes ~0.1 Phi_0/2pi,
        # in the system's units
        un = system.units
        reduced_flux_quantum = scipy.constants.h / (2 * scipy.constants.e) / (2 * np.pi)
        q0 = q0 * reduced_flux_quantum / un.flux
        u = u * np.array([1e-6 / un.current if label == un.current_label
                          else reduced_flux_quantum / un.flux for label in system.input_units])
    return simulate(system, q0, None, u, dt=dt, record_every=3, record_energy=True,
                    integrator="yoshida4", hardware=hardware, seed=seed), (q0, u)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(SYSTEMS))
def test_every_system_saves_loads_and_reruns_bit_identically(tmp_path, name):
    system = SYSTEMS[name]
    traj, (q0, u) = _run(system)
    path = save_trajectory(tmp_path / "run.h5", traj, config={"note": name})
    assert not (tmp_path / "run.h5.partial").exists()
    back = load_trajectory(path)
    assert_same_system(back.system, system)
    for field in ("times", "positions", "momenta", "energy", "final_positions",
                  "final_momenta"):
        np.testing.assert_array_equal(getattr(back, field), getattr(traj, field))
    assert (back.dt, back.integrator, back.n_steps, back.record_every, back.seed) == \
        (traj.dt, "yoshida4", 40, 3, 0)
    assert back.hardware == traj.hardware
    # the run again, from what the file holds (the inputs and initial state are the caller's)
    rerun = simulate(back.system, q0, None, u, dt=back.dt, integrator=back.integrator,
                     record_every=back.record_every, record_energy=True, seed=back.seed,
                     hardware=load_hardware_model(path))
    for field in ("positions", "momenta", "energy", "final_positions", "final_momenta"):
        np.testing.assert_array_equal(getattr(rerun, field), getattr(back, field))
    with h5py.File(path) as f:
        a = attributes(f)
    assert a["kind"] == "trajectory" and a["physsim_version"] == __version__
    assert json.loads(a["config"]) == {"note": name}
    assert set(json.loads(a["versions"])) >= {"python", "numpy", "numba", "h5py"}


CIRCUIT_TOML = """
[system]
type = "circuit"
elements = [
    {kind = "capacitor", node_a = "a", node_b = "gnd", capacitance = 80e-15},
    {kind = "capacitor", node_a = "a", node_b = "b", capacitance = 5e-15},
    {kind = "capacitor", node_a = "b", node_b = "gnd", capacitance = 60e-15},
    {kind = "inductor", node_a = "a", node_b = "gnd", inductance = 1.2e-9},
    {kind = "josephson_junction", node_a = "a", node_b = "b", critical_current = 0.4e-6},
]
sources = [{kind = "current", node = "a", name = "Ia"}]

[simulation]
n_steps = 200
dt = 1e-13
record_every = 10

[initial_state]
kind = "given"
q0 = [3e-17, -2e-17]
"""


def test_physsim_simulate_saves_a_circuit_run(tmp_path, capsys):
    """Was: 'TypeError: Object dtype' from h5py on CircuitUnits, and only a .partial file."""
    from physsim.cli import main

    (tmp_path / "circuit.toml").write_text(CIRCUIT_TOML)
    assert main(["simulate", str(tmp_path / "circuit.toml"), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.h5*")) == ["trajectory.h5"]
    back = load_trajectory(tmp_path / "out" / "trajectory.h5")
    assert isinstance(back.system, CircuitSystem) and back.system.units == CircuitUnits.si()
    assert back.system.node_names == ("a", "b") and back.positions.shape == (1, 21, 2)
    assert load_hardware_model(tmp_path / "out" / "trajectory.h5") is None  # ideal device
    rerun = simulate(back.system, np.array([3e-17, -2e-17]), None, None, n_steps=200,
                     dt=back.dt, integrator=back.integrator, record_every=back.record_every,
                     record_energy=True)
    np.testing.assert_array_equal(rerun.positions, back.positions)
    assert np.ptp(back.positions) > 0  # the run moves, so the comparison can fail


def test_circuit_units_are_stored_as_a_typed_tree(tmp_path):
    system = SYSTEMS["circuit_natural"]
    with atomic_write(tmp_path / "c.h5") as f:
        write_system(f.create_group("system"), system)
    with h5py.File(tmp_path / "c.h5") as f:
        units = f["system/units"]
        assert attribute(units, "type") == "dataclass"
        assert attribute(units, "class") == "physsim.systems.circuit.units:CircuitUnits"
        back = read_system(f["system"])
    assert isinstance(back.units, CircuitUnits) and back.units == system.units
    assert back.time_unit == system.time_unit == "ns"
    assert back.node_names == system.node_names and isinstance(back.node_names, tuple)


def test_hardware_model_round_trips_and_reruns(tmp_path):
    hm = pytest.importorskip("hardware_models")
    model = hm.NoisyAnalog(momentum_noise=1e-3, flip_gain_error=1e-3)
    system = SYSTEMS["coupled"]
    traj, (q0, u) = _run(system, hardware=model, seed=7)
    path = save_trajectory(tmp_path / "hw.h5", traj, hardware_model=model)
    back_model = load_hardware_model(path)
    assert type(back_model) is type(model) and back_model == model
    back = load_trajectory(path)
    assert back.hardware == model.describe() == traj.hardware
    rerun = simulate(back.system, q0, None, u, dt=back.dt, integrator=back.integrator,
                     record_every=back.record_every, record_energy=True, seed=back.seed,
                     hardware=back_model)
    np.testing.assert_array_equal(rerun.positions, back.positions)
    # the noise matters: another seed gives another run (so the check above can fail)
    other = simulate(back.system, q0, None, u, dt=back.dt, integrator=back.integrator,
                     record_every=back.record_every, seed=back.seed + 1, hardware=back_model)
    assert not np.array_equal(other.positions, back.positions)
    with pytest.raises(ValueError, match="hardware_model describes itself"):
        save_trajectory(tmp_path / "x.h5", traj, hardware_model=hm.NoisyAnalog())


def _preset_names() -> list[str]:
    from physsim.hardware import preset_names

    return preset_names()


@pytest.mark.parametrize("name", _preset_names())
def test_every_hardware_preset_round_trips(tmp_path, name):
    from physsim.hardware import get_preset

    model = get_preset(name)
    with atomic_write(tmp_path / "hw.h5") as f:
        write_value(f, "hardware_model", model)
    with h5py.File(tmp_path / "hw.h5") as f:
        back = read_value(f, "hardware_model")
    assert type(back) is type(model) and back == model
    assert back.describe() == model.describe()


def test_values_that_cannot_be_stored_are_refused_by_name_and_leave_no_file(tmp_path):
    bad = dataclasses.replace(SYSTEMS["user"], note={"callback": print})
    traj, _ = _run(bad)
    with pytest.raises(EncodingError, match=r"cannot store system\.note\.callback: values of "
                                            r"type builtins\.builtin_function_or_method"):
        save_trajectory(tmp_path / "bad.h5", traj)
    assert list(tmp_path.iterdir()) == []

    @dataclass(frozen=True, eq=False)
    class LocalBank(QuarticBank):
        pass

    local = LocalBank(mass=1.0, stiffness=1.0, input_matrix=np.eye(2))
    with atomic_write(tmp_path / "local.h5") as f, \
            pytest.raises(EncodingError, match="define it at the top level"):
        write_system(f.create_group("system"), local)


def test_loading_a_file_of_another_kind_or_format_is_refused(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.attrs["kind"] = "sweep"
    with pytest.raises(StorageError, match=r"x\.h5 is not a physsim trajectory file "
                                           r"\(kind='sweep'\)"):
        load_trajectory(tmp_path / "x.h5")
    traj, _ = _run(SYSTEMS["coupled"])
    path = save_trajectory(tmp_path / "t.h5", traj)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
    with pytest.raises(StorageError, match="format version 1; this physsim reads format "
                                           "version 2"):
        load_trajectory(path)
    with pytest.raises(StorageError, match="missing.h5 does not exist"):
        load_trajectory(tmp_path / "missing.h5")


# ------------------------------------------------------- truncated and corrupted files
def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _corrupt(src: Path, dst: Path) -> Path:
    """Flip every byte of the file's first metadata block (after the 8-byte signature)."""
    data = bytearray(src.read_bytes())
    for i in range(8, min(len(data), 4096)):
        data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


DAMAGE = {"truncated": _truncate, "corrupted": _corrupt}


def test_end_of_file_check_reads_the_superblock(tmp_path):
    traj, _ = _run(SYSTEMS["coupled"])
    path = save_trajectory(tmp_path / "t.h5", traj)
    assert stored_end_of_file(path) == path.stat().st_size  # independent: HDF5's own size
    for libver in ("earliest", "latest"):  # superblock versions 0 and 3, with a user block
        with h5py.File(tmp_path / "ub.h5", "w", libver=libver, userblock_size=512) as f:
            f["a"] = np.arange(100.0)
        assert stored_end_of_file(tmp_path / "ub.h5") == (tmp_path / "ub.h5").stat().st_size
    check_not_truncated(path)
    short = _truncate(path, tmp_path / "short.h5")
    with pytest.raises(StorageError, match=r"short\.h5 is truncated"):
        check_not_truncated(short, attempts=1)
    with pytest.raises(StorageError, match=r"short\.h5 is truncated \(\d+ bytes on disk, the "
                                           r"file says \d+\)"):
        open_for_reading(short, "trajectory")


SWEEP_TOML = """
[sweep]
name = "storage_test"
metrics = ["echo_return_error"]
seeds = [0]

[system]
type = "linear_hru"
n_units = 4
n_inputs = 2
seed = 3

[simulation]
n_steps = 20
batch = 1

[loss]
kind = "mse"
n_outputs = 2
"""

TRAIN_TOML = """
[data]
name = "synthetic_frequencies"
n_cases = 60
length = 16

[model]
hru = "linear"
n_blocks = 1
hidden = 4
units = 4

[training]
lr = 0.01
batch_size = 8
max_steps = 4
eval_every = 2
checkpoint_every = 2
patience = 10
"""


class HealthyFiles:
    """A healthy file of every kind physsim writes (made on first request, then kept)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, Path] = {}

    def __getitem__(self, kind: str) -> Path:
        if kind not in self._files:
            self._files[kind] = getattr(self, f"_make_{kind}")(self.folder)
        return self._files[kind]

    @staticmethod
    def _make_trajectory(d: Path) -> Path:
        traj, _ = _run(SYSTEMS["circuit_natural"])
        return save_trajectory(d / "trajectory.h5", traj)

    @staticmethod
    def _make_demo(d: Path) -> Path:
        from physsim.demo import run_demo

        return run_demo(d / "demo", n_steps=60, train_steps=2, hardware=None,
                        progress=False)["run"]

    @staticmethod
    def _make_training_run(d: Path) -> Path:
        from physsim.cli import main

        (d / "train.toml").write_text(TRAIN_TOML)
        assert main(["train", str(d / "train.toml"), "--rule", "bptt", "--out",
                     str(d / "run.h5"), "--quiet", "--stop-after", "2"]) == 0
        return d / "run.h5"

    @staticmethod
    def _make_sweep_config(d: Path) -> Path:
        (d / "sweep.toml").write_text(SWEEP_TOML)
        return d / "sweep.toml"

    def _make_sweep(self, d: Path) -> Path:
        from physsim.cli import main

        assert main(["sweep", str(self["sweep_config"]), "--out", str(d / "sweep.h5"),
                     "--workers", "0", "--quiet"]) == 0
        return d / "sweep.h5"


@pytest.fixture(scope="module")
def files_of_every_kind(tmp_path_factory) -> HealthyFiles:
    """Healthy files of every kind, by kind."""
    return HealthyFiles(tmp_path_factory.mktemp("kinds"))


def _physsim(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", "import sys; from physsim.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _assert_clean_failure(proc: subprocess.CompletedProcess, path: Path) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors and str(path) in errors[0], proc.stderr


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", ["trajectory", "demo", "training_run", "sweep"])
def test_plot_of_a_damaged_file_fails_fast_with_one_line(tmp_path, files_of_every_kind, kind,
                                                         damage):
    path = DAMAGE[damage](files_of_every_kind[kind], tmp_path / f"{kind}_{damage}.h5")
    _assert_clean_failure(_physsim("plot", str(path)), path)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_train_resume_of_a_damaged_run_file_fails_fast_with_one_line(tmp_path,
                                                                      files_of_every_kind,
                                                                      damage):
    path = DAMAGE[damage](files_of_every_kind["training_run"], tmp_path / f"run_{damage}.h5")
    _assert_clean_failure(_physsim("train", "--resume", str(path), "--quiet"), path)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_sweep_resume_on_a_damaged_results_file_fails_fast_with_one_line(tmp_path,
                                                                         files_of_every_kind,
                                                                         damage):
    path = DAMAGE[damage](files_of_every_kind["sweep"], tmp_path / f"sweep_{damage}.h5")
    proc = _physsim("sweep", str(files_of_every_kind["sweep_config"]), "--out", str(path),
                    "--workers", "0", "--quiet")
    _assert_clean_failure(proc, path)


def test_a_sweep_file_killed_mid_write_and_then_truncated_is_refused(tmp_path,
                                                                     files_of_every_kind):
    """A file still flagged as open by a (killed) SWMR writer takes the SWMR path: it is
    checked against the superblock's end-of-file address first, never read past its end."""
    path = tmp_path / "flagged.h5"
    path.write_bytes(files_of_every_kind["sweep"].read_bytes())
    script = textwrap.dedent(f"""
        import os, h5py
        f = h5py.File({str(path)!r}, "r+", libver="latest")
        f.swmr_mode = True
        f.flush()
        os._exit(0)   # killed: the file keeps its "open for writing" flag
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with pytest.raises(OSError, match="open for write|consistency flags"):
        h5py.File(path, "r").close()
    open_for_reading(path, "sweep").close()  # intact: readable through SWMR
    short = _truncate(path, tmp_path / "flagged_short.h5")
    _assert_clean_failure(_physsim("plot", str(short)), short)
    with pytest.raises(StorageError, match="is truncated"):
        open_for_reading(short, "sweep")


SCAN_SCRIPT = """
import dataclasses, math, shutil, sys
from pathlib import Path
import numpy as np
from physsim import storage
from physsim.systems import HamiltonianSystem

reader = getattr(storage, sys.argv[1])
original, work, n_spots, width = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), 16


def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        return a.shape == b.shape and a.tolist() == b.tolist()
    if isinstance(a, HamiltonianSystem):
        return type(a) is type(b) and same(a.constructor_fields(), b.constructor_fields())
    if dataclasses.is_dataclass(a):  # a record's path is the file it was read from
        fields = [f.name for f in dataclasses.fields(a) if f.name != "path"]
        return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in fields)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


want = reader(original)
data = original.read_bytes()
for k in range(n_spots):
    start = 8 + (len(data) - 8 - width) * k // (n_spots - 1)
    damaged = bytearray(data)
    for i in range(start, start + width):
        damaged[i] ^= 0x5A  # not 0xFF: Fletcher-32 cannot tell 0x0000 from 0xFFFF words
    path = work / f"spot{start}.h5"
    path.write_bytes(bytes(damaged))
    try:
        got = reader(path)
    except storage.StorageError as exc:
        assert str(path) in str(exc).splitlines()[0], exc
        print("refused", start)
        continue
    # bytes no object uses may be damaged harmlessly; anything read must be the original
    print("harmless" if same(got, want) else "WRONG", start)
"""


@pytest.mark.parametrize("kind, reader", [("trajectory", "load_trajectory"),
                                          ("demo", "read_demo_run"),
                                          ("training_run", "read_run"), ("sweep", "read_sweep")])
def test_damage_anywhere_is_refused_or_harmless(tmp_path, files_of_every_kind, kind, reader):
    """16 damaged bytes at 40 places across the file: each copy is refused with a StorageError
    naming it, or reads exactly as the original (unused bytes); never garbage, never a hang.

    Metadata carry a Jenkins hash, arrays HDF5's Fletcher-32; the damage pattern avoids
    Fletcher-32's one blind spot (a 16-bit word 0x0000 turned into 0xFFFF or back), which
    physsim.storage.files documents."""
    proc = subprocess.run([sys.executable, "-c", SCAN_SCRIPT, reader,
                           str(files_of_every_kind[kind]), str(tmp_path), "40"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcomes = [line.split()[0] for line in proc.stdout.splitlines()]
    assert len(outcomes) == 40 and "WRONG" not in outcomes, proc.stdout
    assert outcomes.count("refused") >= 20, proc.stdout  # most of a physsim file is used
