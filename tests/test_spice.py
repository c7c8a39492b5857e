"""SPICE netlists in and out: parser, waveforms, round trip, and physics against ngspice.

References: hand-built circuits (the builder, independently of the parser),
closed-form values of the SPICE waveforms and scipy quadrature of them,
ngspice transient runs with tight tolerances (LC netlists), and a
hand-written Kirchhoff ODE integrated by scipy's DOP853 (Josephson netlists,
which ngspice does not model).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from physsim.spice import (Dc, NetlistError, Pulse, Pwl, Sin, device_from_netlist, load_device,
                           parse_netlist, simulate_device, write_netlist)
from physsim.spice.expressions import ExpressionError, evaluate, parse_number
from physsim.spice.ngspice import ngspice_available, ngspice_transient
from physsim.systems.circuit import FLUX_QUANTUM, Circuit

NETLISTS = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "spice"
CROSS_CHECKED = sorted(NETLISTS.glob("*.cir"))


def require_ngspice() -> None:
    """Skip locally without ngspice; fail in CI (CI=true), where .ci/run installs it."""
    if ngspice_available():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("ngspice is not installed, but CI must cross-check against it "
                    "(.ci/run installs it with apt-get install -y ngspice)")
    pytest.skip("ngspice is not installed (apt-get install ngspice): the cross-checks need it")


def parse_device(text: str):
    return device_from_netlist(parse_netlist(text, filename="test.cir"))


# ------------------------------------------------------ numbers, expressions
@pytest.mark.parametrize("text, value", [
    ("1", 1.0), ("1.5", 1.5), (".5", 0.5), ("2e-12", 2e-12), ("10p", 10e-12), ("10pF", 10e-12),
    ("3n", 3e-9), ("3NH", 3e-9), ("4.7u", 4.7e-6), ("1m", 1e-3), ("1M", 1e-3), ("1meg", 1e6),
    ("1MEG", 1e6), ("2k", 2e3), ("1g", 1e9), ("1t", 1e12), ("5f", 5e-15), ("1mil", 25.4e-6),
    ("5v", 5.0), ("2s", 2.0), ("1e3k", 1e6)])
def test_numbers_with_engineering_suffixes(text, value):
    assert parse_number(text) == value  # exact: "3n" is the float nearest 3e-9


def test_expressions_precedence_functions_and_parameters():
    params = {"a": 2.0, "b": 3.0}
    assert evaluate("1 + 2 * 3", {}) == 7
    assert evaluate("(1 + 2) * 3", {}) == 9
    assert evaluate("2 ^ 3 ^ 2", {}) == 2 ** 9          # right-associative
    assert evaluate("-2 ** 2", {}) == -4
    assert evaluate("a * b - a / b", params) == pytest.approx(6 - 2 / 3)
    assert evaluate("sqrt(a * 8) + max(a, b) + 1p", params) == pytest.approx(7 + 1e-12)
    assert evaluate("2*pi", {}) == pytest.approx(2 * np.pi)
    assert evaluate("10 - 3 - 2", {}) == 5


@pytest.mark.parametrize("text, match", [
    ("__import__('os').system('true')", "unexpected|unknown"),
    ("a.b", "unexpected"), ("1 +", "expected"), ("c * 2", "unknown parameter 'c'"),
    ("1 / 0", "division by zero"), ("sqrt(1, 2)", "takes 1"), ("foo(1)", "unknown function"),
    ("sqrt(-1)", "domain"), ("(1 + 2", "expected"), ("", "empty")])
def test_bad_expressions_are_refused(text, match):
    with pytest.raises(ExpressionError, match=match):
        evaluate(text, {"a": 1.0})


# --------------------------------------------------------------- the parser
LADDER = """Ladder * the title line is never an element
* a comment line
.PARAM cval = 1p   lval={2 * 1n}  ratio='cval / 1p'
c1 A 0 {cval}     ; inline comment
C2 b GND {0.8 * cval} $ another inline comment
Cab a B 0.2P
L1 a 0
+ {lval}
L2 B 0 3n
K1 l1 L2 {0.3 * ratio}
I1 0 a SIN(0 1U 3G)
.options reltol=1e-6
.control
run
.endc
.TRAN 0.1p 1n UIC
.end
R1 a 0 1k  this line is after .end
"""


def test_netlist_matches_the_hand_built_circuit():
    device = parse_device(LADDER)
    hand = Circuit()
    hand.add_capacitor("a", "gnd", 1e-12)
    hand.add_capacitor("b", "gnd", 0.8e-12)
    hand.add_capacitor("a", "b", 0.2e-12)
    hand.add_inductor("a", "gnd", 2e-9, name="l1")
    hand.add_inductor("b", "gnd", 3e-9, name="l2")
    hand.add_mutual_inductance("l1", "l2", 0.3)
    hand.add_current_source("a")
    got, want = device.build(), hand.build()
    for name in ("capacitance", "inverse_inductance", "input_matrix"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-14)
    assert got.node_names == ("a", "b")
    assert got.input_names == ("i1",)
    assert device.waveforms == (Sin(0.0, 1e-6, 3e9, 0.0, 0.0, 0.0),)
    assert device.transient.step == 0.1e-12 and device.transient.n_steps == 10_000
    assert device.title.startswith("Ladder")
    assert set(parse_netlist(LADDER).ignored) == {".options", ".control"}


def test_current_source_direction_follows_spice():
    # SPICE: current flows from n+ through the source to n-, so "I 0 a" pushes into a
    base = "t\nC1 a 0 1p\nL1 a 0 1n\n"
    into = parse_device(base + "I1 0 a DC 1u\n").build().input_matrix
    out_of = parse_device(base + "I1 a 0 DC 1u\n").build().input_matrix
    assert into[0, 0] == 1.0 and out_of[0, 0] == -1.0


def test_voltage_source_series_inductor_either_terminal():
    base = "t\nC1 a 0 1p\nL1 a 0 1n\nC2 b 0 1p\nL2 b 0 2n\n"
    plus = parse_device(base + "V1 s 0 DC 1\nLs s a 3n\n").build()
    minus = parse_device(base + "V1 b s DC 1\nLs a s 3n\n").build()
    hand = Circuit()
    hand.add_capacitor("a", "gnd", 1e-12)
    hand.add_inductor("a", "gnd", 1e-9)
    hand.add_capacitor("b", "gnd", 1e-12)
    hand.add_inductor("b", "gnd", 2e-9)
    hand.add_voltage_source("a", inductance=3e-9, name="v1")
    want = hand.build()
    np.testing.assert_allclose(plus.inverse_inductance, want.inverse_inductance, rtol=1e-14)
    np.testing.assert_allclose(plus.input_matrix, want.input_matrix, rtol=1e-14)
    # V(b) - V(s) = Vs with Ls from a to s: the source drives b against a
    hand2 = Circuit()
    for br in hand.branches:
        getattr(hand2, {"capacitor": "add_capacitor", "inductor": "add_inductor"}[br.kind])(
            br.node_a, br.node_b, br.value)
    hand2.add_voltage_source("b", inductance=3e-9, name="v1", return_node="a")
    np.testing.assert_allclose(minus.inverse_inductance, hand2.build().inverse_inductance,
                               rtol=1e-14)
    np.testing.assert_allclose(minus.input_matrix, hand2.build().input_matrix, rtol=1e-14)


def test_subcircuits_are_flattened_with_nodes_and_parameters():
    text = """sub
.param cg=2p
.subckt cell in out c=1p l=1n
Cin in 0 {c}
Lmid in mid {l}
Cmid mid 0 {cg}
Lout mid out {2*l}
.ends cell
Cload y 0 0.5p
X1 x y cell c=3p
X2 y 0 cell
Cx x 0 1p
"""
    device = parse_device(text)
    values = device.circuit.values
    assert values["c.x1.cin"] == 3e-12 and values["l.x1.lmid"] == 1e-9
    assert values["c.x2.cin"] == 1e-12 and values["c.x2.cmid"] == 2e-12
    assert values["l.x1.lout"] == 2e-9
    nodes = device.circuit.nodes
    assert set(nodes) == {"y", "x", "x1.mid", "x2.mid"}
    lout2 = next(b for b in device.circuit.branches if b.name == "l.x2.lout")
    assert (lout2.node_a, lout2.node_b) == ("x2.mid", "gnd")


def test_josephson_junctions_with_models_and_area():
    text = """jj
.model jmod jj(rtype=0, icrit=0.1mA, cap=0.5pF)
B1 a 0 jmod
B2 a b jmod area=2.5
L1 b 0 10p
C1 b 0 1p
"""
    device = parse_device(text)
    b1, b2 = (b for b in device.circuit.branches if b.kind == "josephson junction")
    assert (b1.value, b1.capacitance) == (1e-4, 0.5e-12)
    assert b2.value == pytest.approx(2.5e-4, rel=1e-15)
    assert b2.capacitance == pytest.approx(1.25e-12, rel=1e-15)
    system = device.build()
    np.testing.assert_allclose(system.josephson_energy, np.array([1e-4, 2.5e-4])
                               * FLUX_QUANTUM / (2 * np.pi), rtol=1e-14)


@pytest.mark.parametrize("line, match", [
    ("R1 a 0 50", "dissipat.*damping"),
    ("D1 a 0 dmod", "diodes"),
    ("Q1 a b 0 qmod", "bipolar"),
    ("M1 a b 0 0 nmos", "MOSFET"),
    ("E1 a 0 b 0 2", "controlled sources"),
    ("F1 a 0 V1 2", "controlled sources"),
    ("G1 a 0 b 0 1m", "controlled sources"),
    ("H1 a 0 V1 2", "controlled sources"),
    ("J1 a b 0 jmod", "B<name>"),
    ("T1 a 0 b 0 z0=50 td=1n", "transmission"),
    (".ic v(a)=1", "starts from rest"),
    (".include other.cir", "included files"),
    (".ac dec 10 1 1g", "transient analysis"),
    (".frobnicate", "unknown dot-command"),
    ("C9 a 0 1p ic=1", "unsupported extra"),
    ("C9 a 0 -1p", "must be positive"),
    ("C9 a 0 {undefined*2}", "unknown parameter 'undefined'"),
    ("I2 0 a SFFM(0 1 1g 2 1k)", "SFFM is not supported"),
    ("I2 0 a PWL(0 0 1n)", "pairs"),
    ("I2 0 a PULSE(0 1 0 -1p 1p 1n 1p)", "TR > 0"),
    ("X1 a nosuch", "unknown subcircuit"),
    ("B1 a 0 nomodel", "unknown model"),
    ("K1 L1 C1 0.5", "not an inductor"),
    ("K1 L1 L1 0.5", "with itself"),
    ("K1 L1 Lx 1.5", "in \\(-1, 1\\)"),
])
def test_unsupported_or_malformed_lines_name_file_line_and_element(line, match):
    text = f"t\nC1 a 0 1p\nL1 a 0 1n\nLx a 0 2n\n{line}\n.tran 1p 1n\n"
    with pytest.raises(NetlistError, match=match) as info:
        parse_device(text)
    assert info.value.location.filename == "test.cir"
    assert info.value.location.line == 5
    assert str(info.value).startswith("test.cir:5: ")


def test_voltage_source_without_series_inductor_says_why():
    with pytest.raises(NetlistError, match="needs a series inductance") as info:
        parse_device("t\nC1 a 0 1p\nL1 a 0 1n\nV1 a 0 DC 1\n")
    assert info.value.element == "v1" and info.value.location.line == 4


def test_resistive_junction_models_are_refused():
    for model, match in (("jj(icrit=1m, rtype=1)", "rtype must be 0"),
                         ("jj(icrit=1m, rn=5)", "resistance"),
                         ("jj(cap=1p)", "icrit"), ("jj(icrit=1m, vg=2.8m)", "not modelled")):
        with pytest.raises(NetlistError, match=match) as info:
            parse_device(f"t\nC1 a 0 1p\n.model m {model}\nB1 a 0 m\n")
        assert info.value.location.line == 3


def test_errors_inside_subcircuits_name_the_instance():
    text = "t\n.subckt cell a\nR1 a 0 1k\n.ends\nC1 n 0 1p\nX7 n cell\n"
    with pytest.raises(NetlistError, match="resistors") as info:
        parse_device(text)
    assert info.value.location.line == 3 and "x7 at line 6" in str(info.value)


# --------------------------------------------------------------- waveforms
WAVES = [Dc(1.5), Sin(0.2, 1.0, 2e9, 0.3e-9, 1e9, 30.0), Sin(0.0, 2.0, 1e9),
         Pulse(-1.0, 2.0, 0.1e-9, 0.05e-9, 0.1e-9, 0.2e-9, 0.6e-9),
         Pulse(0.0, 1.0, 0.0, 0.1e-9, 0.2e-9, 0.3e-9, 0.45e-9),
         Pwl((0.1e-9, 0.3e-9, 0.35e-9, 1e-9), (0.5, -1.0, 2.0, 0.0))]


@pytest.mark.parametrize("wave", WAVES, ids=lambda w: type(w).__name__)
def test_waveform_integral_matches_quadrature(wave):
    t = np.array([0.0, 0.05e-9, 0.33e-9, 0.71e-9, 1.9e-9])
    for ti, got in zip(t, wave.integral(t)):
        want = quad(lambda s: float(wave.at(np.array(s))), 0, ti, limit=400,
                    points=[p for p in (0.1e-9, 0.15e-9, 0.3e-9, 0.35e-9, 0.45e-9, 0.6e-9,
                                        0.7e-9, 0.75e-9, 1e-9) if p < ti] or None,
                    epsabs=1e-22, epsrel=1e-11)[0]
        assert got == pytest.approx(want, rel=1e-8, abs=1e-20)


def test_waveform_values_follow_the_ngspice_definitions():
    p = Pulse(-1.0, 2.0, 1.0, 0.5, 1.0, 2.0, 6.0)
    times = np.array([0.0, 1.0, 1.25, 1.5, 3.5, 4.0, 4.5, 5.0, 7.0, 7.25])
    np.testing.assert_allclose(p.at(times), [-1, -1, 0.5, 2, 2, 0.5, -1, -1, -1, 0.5])
    s = Sin(1.0, 2.0, 0.25, 1.0, 0.0, 90.0)
    np.testing.assert_allclose(s.at(np.array([0.0, 1.0, 2.0, 3.0])), [3, 3, 1, -1], atol=1e-12)
    w = Pwl((1.0, 2.0), (4.0, 6.0))
    np.testing.assert_allclose(w.at(np.array([0.0, 1.5, 9.0])), [4, 5, 6])
    cut = Pulse(0.0, 1.0, 0.0, 1.0, 1.0, 3.0, 4.5)   # TR + PW + TF > PER: cut at PER
    np.testing.assert_allclose(cut.at(np.array([0.5, 4.25, 4.75, 5.5])), [0.5, 0.75, 0.25, 1])
    assert float(cut.integral(np.array(9.0))) == pytest.approx(2 * (0.5 + 3 + 0.5 * 0.75))


def test_inputs_are_sampled_at_the_step_midpoints():
    device = parse_device("t\nC1 a 0 1p\nL1 a 0 1n\nI1 0 a PWL(0 0 1n 1u)\n"
                          "V1 s 0 DC 2m\nLs s a 1n\n.tran 0.1n 0.4n\n")
    u = device.inputs(device.build())
    np.testing.assert_allclose(u[:, 0], 1e-6 * np.array([0.05, 0.15, 0.25, 0.35]), rtol=1e-12)
    np.testing.assert_allclose(u[:, 1], 2e-3 * np.array([0.05, 0.15, 0.25, 0.35]) * 1e-9,
                               rtol=1e-12)  # source flux = integral of the voltage


# ---------------------------------------------------------------- round trip
def _same_system(a, b):
    for name in ("capacitance", "inverse_inductance", "josephson_energy", "junction_incidence",
                 "input_matrix"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.node_names == b.node_names and a.input_names == b.input_names
    assert a.junction_names == b.junction_names and a.input_units == b.input_units


@pytest.mark.parametrize("path", CROSS_CHECKED, ids=lambda p: p.stem)
def test_netlist_round_trip_is_exact(path):
    device = load_device(path)
    again = parse_device(write_netlist(device))
    _same_system(device.build(), again.build())
    assert again.waveforms == device.waveforms
    assert (again.transient.step, again.transient.stop, again.transient.uic) == (
        device.transient.step, device.transient.stop, True)
    assert again.circuit.values == device.circuit.values


def test_builder_circuit_with_trained_values_round_trips():
    c = Circuit()
    c.add_josephson_junction("q", "gnd", 30e-9, capacitance=80e-15, name="Jq")
    c.add_inductor("q", "r", 20e-9, name="Lqr")
    c.add_capacitor("r", "gnd", 400e-15)
    c.add_inductor("r", "gnd", 10e-9)
    c.add_inductor("q", "gnd", 15e-9, name="Lq")
    c.add_mutual_inductance("Lq", "L1", -0.2)
    c.add_current_source("r", name="drive")
    c.add_voltage_source("q", inductance=2e-9, name="flux_bias")
    trained = c.with_values({"C1": 1 / 3 * 1e-12, "L1": np.pi * 1e-9, "K1": -0.123456789})
    back = parse_device(write_netlist(trained))
    got, want = back.build(), trained.build()
    for name in ("capacitance", "inverse_inductance", "josephson_energy", "junction_incidence",
                 "input_matrix"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.input_names == ("idrive", "vflux_bias")
    assert back.circuit.values["c1"] == 1 / 3 * 1e-12


# ----------------------------------------------------------- against ngspice
@pytest.mark.parametrize("path", CROSS_CHECKED, ids=lambda p: p.stem)
def test_node_voltages_agree_with_ngspice_at_second_order(path):
    require_ngspice()
    device = load_device(path)
    ref = ngspice_transient(path.read_text(), device.circuit.nodes)
    amplitude = np.max(np.abs(ref.node_voltages))
    errors = []
    for refine in (1, 2):
        run = simulate_device(device, dt=device.transient.step / refine, record_every=refine)
        np.testing.assert_allclose(run.times, ref.times, rtol=1e-9, atol=1e-18)
        errors.append(np.max(np.abs(run.node_voltages - ref.node_voltages)) / amplitude)
    assert errors[0] < 1e-4, errors
    assert 3.8 < errors[0] / errors[1] < 4.2, errors   # leapfrog's dt^2


def test_exported_trained_netlist_runs_in_ngspice_and_agrees():
    require_ngspice()
    device = load_device(NETLISTS / "lc_ladder_mutual.cir")
    trained = device.with_values({"c2": 0.9e-12, "l23": 2.7e-9, "k1": 0.31})
    text = write_netlist(trained)
    ref = ngspice_transient(text, trained.circuit.nodes)
    run = simulate_device(parse_device(text), dt=trained.transient.step / 2, record_every=2)
    amplitude = np.max(np.abs(ref.node_voltages))
    assert np.max(np.abs(run.node_voltages - ref.node_voltages)) / amplitude < 1e-5


# --------------------------------------------------- Josephson vs solve_ivp
def test_josephson_netlist_matches_hand_written_kirchhoff():
    text = """two junctions and an inductor, driven
.model jx jj(icrit=0.2u, cap=0.3p)
B1 a 0 jx
B2 b 0 jx area=1.5
L1 a b 2n
C1 a 0 0.7p
I1 0 a PWL(0 0 0.2n 0.3u 0.6n 0.3u 0.8n -0.1u)
I2 0 b SIN(0 0.1u 2g)
.tran 0.5p 1n
"""
    device = parse_device(text)
    phi0 = FLUX_QUANTUM
    ic = np.array([0.2e-6, 0.3e-6])
    cmat = np.diag([0.3e-12 + 0.7e-12, 0.45e-12])
    kmat = np.array([[1, -1], [-1, 1]]) / 2e-9
    i1, i2 = device.waveforms

    def rhs(t, y):
        flux, volt = y[:2], y[2:]
        drive = np.array([i1.at(np.array(t)), i2.at(np.array(t))])
        current = drive - kmat @ flux - ic * np.sin(2 * np.pi * flux / phi0)
        return np.concatenate([volt, np.linalg.solve(cmat, current)])

    t_end = 1e-9
    sol = solve_ivp(rhs, (0, t_end), np.zeros(4), method="DOP853", rtol=1e-12, atol=1e-24,
                    max_step=5e-12)
    ref_flux, ref_volt = sol.y[:2, -1], sol.y[2:, -1]
    assert np.max(np.abs(ref_flux)) > 0.3 * phi0 / (2 * np.pi)  # phases of order 1: nonlinear
    errors = []
    for refine in (1, 2):
        run = simulate_device(device, dt=device.transient.step / refine)
        scale = np.max(np.abs(run.node_voltages))
        errors.append(max(np.max(np.abs(run.node_voltages[-1] - ref_volt)) / scale,
                          np.max(np.abs(run.fluxes[-1] - ref_flux)) / np.max(np.abs(ref_flux))))
    assert errors[0] < 1e-3, errors
    assert 3.3 < errors[0] / errors[1] < 4.7, errors


def test_source_specifications_with_dc_ac_and_defaults_from_tran():
    base = "t\nC1 a 0 1p\nL1 a 0 1n\n.tran 1p 2n\n"
    assert parse_device(base + "I1 0 a 3u\n").waveforms == (Dc(3e-6),)
    assert parse_device(base + "I1 0 a\n").waveforms == (Dc(0.0),)
    # DC value plus a transient function: the function defines the transient run
    both = parse_device(base + "I1 0 a DC 1u AC 1 0 SIN(0 2u)\n").waveforms[0]
    assert both == Sin(0.0, 2e-6, 1 / 2e-9)             # FREQ defaults to 1/TSTOP
    pulse = parse_device(base + "I1 0 a PULSE(0 1u)\n").waveforms[0]
    assert pulse == Pulse(0.0, 1e-6, 0.0, 1e-12, 1e-12, 2e-9, 2e-9)  # ngspice's defaults
    with pytest.raises(NetlistError, match="needs TR"):
        parse_device("t\nC1 a 0 1p\nL1 a 0 1n\nI1 0 a PULSE(0 1u)\n")
    with pytest.raises(NetlistError, match="more than one transient function"):
        parse_device(base + "I1 0 a SIN(0 1 1g) PWL(0 0 1n 1)\n")


def test_parameters_inside_subcircuits_are_local():
    text = """t
.param c=1p
.subckt cell n
.param c2={2*c}
C1 n 0 {c2}
.ends
X1 a cell
L1 a 0 1n
C2 a 0 {c}
"""
    values = parse_device(text).circuit.values
    assert values["c.x1.c1"] == 2e-12 and values["c2"] == 1e-12


def test_natural_units_give_the_same_node_voltages():
    device = load_device(NETLISTS / "source_sin.cir")   # a current and a voltage source
    si = simulate_device(device)
    natural = simulate_device(device, units="natural", time_scale=1e-9)
    amplitude = np.max(np.abs(si.node_voltages))
    np.testing.assert_allclose(natural.times, si.times, rtol=1e-12)
    assert np.max(np.abs(natural.node_voltages - si.node_voltages)) < 1e-10 * amplitude
    np.testing.assert_allclose(natural.fluxes, si.fluxes, rtol=1e-9,
                               atol=1e-10 * np.max(np.abs(si.fluxes)))


# ------------------------------------------------- command line and configs
def test_cli_simulate_netlist_writes_node_voltages(tmp_path, capsys):
    import h5py

    from physsim.cli import main
    from physsim.storage import attributes, load_trajectory

    path = NETLISTS / "source_pwl.cir"
    assert main(["simulate", str(path), "--out", str(tmp_path), "--quiet"]) == 0
    run = simulate_device(load_device(path))
    with h5py.File(tmp_path / "trajectory.h5", "r") as f:
        volts = np.asarray(f["trajectory/node_voltages"])
        names = [n.decode() if isinstance(n, bytes) else n for n in f["trajectory/node_names"]]
        assert attributes(f["trajectory/node_voltages"])["unit"] == "V"
    assert names == ["n1", "n2", "n3"]
    assert volts.shape == (run.times.size, 3)
    np.testing.assert_array_equal(volts, run.node_voltages)
    saved = load_trajectory(tmp_path / "trajectory.h5")
    np.testing.assert_array_equal(saved.positions[0], run.fluxes)   # SI: Wb
    assert (tmp_path / "node_voltages.png").stat().st_size > 0
    bad = tmp_path / "bad.cir"
    bad.write_text("t\nC1 a 0 1p\nR1 a 0 50\n.tran 1p 10p\n")
    assert main(["simulate", str(bad), "--out", str(tmp_path), "--quiet"]) == 1
    assert "bad.cir:3: r1: resistors" in capsys.readouterr().err


def _netlist_config(tmp_path, netlist_text: str, extra: str = "") -> Path:
    (tmp_path / "dev").mkdir(exist_ok=True)
    (tmp_path / "dev" / "device.cir").write_text(netlist_text)
    toml = tmp_path / "dev" / "device.toml"
    toml.write_text('[system]\ntype = "netlist"\nnetlist = "device.cir"\n'
                    '[simulation]\nn_steps = 300\ndt = 2e-13\n'
                    '[inputs]\nkind = "noise"\namplitude = 1e-6\n' + extra)
    return toml


def test_toml_config_names_a_netlist_relative_to_itself(tmp_path, capsys, monkeypatch):
    from physsim.cli import main
    from physsim.config import ConfigError, load_toml, parse_device

    toml = _netlist_config(tmp_path, (NETLISTS / "lc_ladder_mutual.cir").read_text())
    monkeypatch.chdir(tmp_path)   # the netlist is found next to the TOML, not in the cwd
    cfg = parse_device(load_toml(toml), base_dir=toml.parent)
    np.testing.assert_array_equal(cfg.system.build().inverse_inductance,
                                  load_device(NETLISTS / "lc_ladder_mutual.cir").build()
                                  .inverse_inductance)
    assert main(["gradcheck", str(toml)]) == 0
    assert "CircuitSystem" in capsys.readouterr().out
    broken = _netlist_config(tmp_path, "t\nC1 a 0 1p\nQ1 a b 0 npn\n")
    with pytest.raises(ConfigError, match=r"system.*netlist.*device\.cir:3: q1: bipolar"):
        parse_device(load_toml(broken), base_dir=broken.parent)


def test_sweep_config_resolves_the_netlist_for_its_workers(tmp_path, monkeypatch):
    from physsim.sweeps import load_sweep_config

    toml = _netlist_config(tmp_path, (NETLISTS / "source_dc.cir").read_text(),
                           '[sweep]\nmetrics = ["echo_return_error"]\nseeds = [0]\n')
    monkeypatch.chdir(tmp_path)
    sweep = load_sweep_config(toml)
    assert sweep.problem["system"]["netlist"] == str((toml.parent / "device.cir").resolve())


def test_mutual_inductance_inside_a_subcircuit_couples_its_own_inductors():
    text = """t
.subckt pair a b
La a 0 1n
Lb b 0 2n
Kab La Lb 0.4
.ends
X1 p q pair
Cp p 0 1p
Cq q 0 1p
"""
    circuit = parse_device(text).circuit
    (coupling,) = circuit.couplings
    assert (coupling.name, coupling.inductor_a, coupling.inductor_b) == (
        "k.x1.kab", "l.x1.la", "l.x1.lb")
    omega = circuit.build().normal_mode_frequencies()
    # against the closed form of the 2x2 problem: det(K - w^2 C) = 0 with K = L_b^-1
    lmat = np.array([[1e-9, 0.4 * np.sqrt(2e-18)], [0.4 * np.sqrt(2e-18), 2e-9]])
    w2 = np.linalg.eigvals(np.linalg.inv(lmat) / 1e-12)
    np.testing.assert_allclose(omega, np.sqrt(np.sort(w2.real)), rtol=1e-12)
