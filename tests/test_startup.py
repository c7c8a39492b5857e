"""Start-up does no compiling (issue 13, point 1).

Importing physsim, ``physsim --help``, ``physsim info`` and reading configs
must not compile or load any numba kernel; a time loop is compiled the first
time a run needs it, for that run's dtype, and that first compilation says so
in one line.  Each check runs in a fresh interpreter (what a command sees).
That the results are unchanged is what the rest of the suite checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
NOTICE = "physsim: compiling"

# Lists every numba dispatcher of physsim and its plugins that holds machine code (compiled
# or loaded from the cache), and the signatures of the time loops, as JSON on the last line.
_REPORT = textwrap.dedent("""
    def _report():
        import json
        import sys

        if "numba" not in sys.modules:
            return {"numba": False, "kernels": [], "loops": {}}
        from numba.core.registry import CPUDispatcher

        kernels = []
        for name, module in list(sys.modules.items()):
            if not name.startswith(("physsim", "hardware_models")):
                continue
            for attr, value in list(vars(module).items()):
                if isinstance(value, CPUDispatcher) and value.overloads:
                    kernels.append(f"{name}.{attr}")
        loops = {}
        if "physsim._kernels.loops" in sys.modules:
            from physsim._kernels import loops as lp

            # per loop, the state dtype (that of ``coefs``) of each compiled signature
            loops = {n: [str(sig[1].dtype) for sig in getattr(lp, n).dispatcher.signatures]
                     for n in ("free_run", "echo_run", "adjoint_run")}
        return {"numba": True, "kernels": sorted(kernels), "loops": loops}
""")


def _run(code: str, cache_dir: Path) -> tuple[dict, str]:
    """Run ``code`` then the report in a fresh interpreter; return the report and stderr."""
    script = _REPORT + textwrap.dedent(code) + "\nprint(json.dumps(_report()))\n"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_import_loads_no_numba(tmp_path):
    report, stderr = _run("import json\nimport physsim\n", tmp_path)
    assert report == {"numba": False, "kernels": [], "loops": {}}
    assert NOTICE not in stderr


def test_help_info_and_config_checks_compile_nothing(tmp_path):
    code = f"""
        import json
        import contextlib, io
        from pathlib import Path
        from physsim.cli import main

        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit as exc:
                assert exc.code == 0
            assert main(["info"]) == 0
        from physsim.config import load_toml, parse_device
        from physsim.hssm.config import RunConfig
        from physsim.sweeps.config import load_sweep_config

        configs = Path({str(CONFIGS)!r})
        for name in ("simulate_six_oscillators", "simulate_lc_ladder_josephson",
                     "gradcheck_nonlinear_hru"):
            path = configs / (name + ".toml")
            parse_device(load_toml(path), base_dir=path.parent).system.build()
        RunConfig.from_file(configs / "hssm_synthetic.toml")
        load_sweep_config(configs / "sweep_gradient_fidelity_linear_hru.toml")
        import physsim._kernels.loops  # what a run imports: compiles nothing by itself
    """
    report, stderr = _run(code, tmp_path)
    assert report["kernels"] == []
    assert all(sigs == [] for sigs in report["loops"].values()), report["loops"]
    assert NOTICE not in stderr
    # numba makes a folder per module of cached kernels; no kernel may be written in them
    assert [f for f in tmp_path.rglob("*") if f.is_file()] == []


def test_first_run_compiles_its_dtype_once_and_says_so(tmp_path):
    """The only cold-compile test (it compiles the forward loop: seconds to a minute)."""
    code = """
        import json
        import numpy as np
        import physsim
        from physsim.examples import six_oscillators

        # two runs of two systems: one compiled loop serves both, and says so once
        for system in (six_oscillators(), physsim.LinearHRU.random(3, 1, rng=0)):
            for _ in range(2):
                physsim.simulate(system, np.zeros(system.n_dof), None, np.zeros((5, 1)),
                                 dt=0.01, dtype=np.float32)
    """
    report, stderr = _run(code, tmp_path)
    notices = [line for line in stderr.splitlines() if line.startswith(NOTICE)]
    assert len(notices) == 1, stderr
    # what is compiled, for which dtype, that it happens once, about how long
    assert "forward time loop" in notices[0] and "float32" in notices[0], notices[0]
    assert "once" in notices[0] and " s " in notices[0], notices[0]
    assert report["loops"] == {"free_run": ["float32"], "echo_run": [], "adjoint_run": []}

    # a new process with the cache now filled loads the loop without a notice
    report, stderr = _run(code, tmp_path)
    assert NOTICE not in stderr, stderr
    assert report["loops"]["free_run"] == ["float32"]
