"""Tasks on the papers' data sets (shd, ssc, nmnist, dvs-gesture, cifar10) on tiny fixtures
written here in each set's own file format and folder layout, the Dataset plumbing of
zoo.tasks (streaming, collate, bounded load), --task-module, and the recipes on these tasks.
No network: the data cache is a tmp_path; a missing set must raise, never download."""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("tonic")
pytest.importorskip("torchvision")

from zoo.registry import ZooError  # noqa: E402
from zoo.tasks import MAX_DENSE, collate, get_task, load_task_module, task_dataset  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    return root


# --- fixture writers: each set's real format --------------------------------------------------

def write_hsd(path: Path, samples: list[tuple[list[float], list[int], int]], keys: list[str]) -> None:
    """The Heidelberg HDF5 format: spikes/times (vlen float, s), spikes/units (vlen uint16),
    labels, extra/keys, extra/speaker."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float64))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, np.float64)
            units[i] = np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        f.create_dataset("extra/speaker", data=np.arange(len(samples), dtype=np.uint16))


# times in seconds, chosen away from the 4 ms bin edges (float32 HDF5 readers round)
SHD_TRAIN = [
    ([0.001, 0.0015, 0.006, 0.0105, 0.5], [3, 3, 699, 0, 10], 7),  # 0.5 s: beyond steps*dt, dropped
    ([0.002], [350], 19),
    ([], [], 0),  # a recording without spikes
]


def write_nmnist_bin(path: Path, events: list[tuple[int, int, int, int]]) -> None:
    """N-MNIST .bin: 40 bits per event: x (8), y (8), polarity (1) + timestamp (23 bits, us)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = bytearray()
    for x, y, p, t in events:
        raw += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    path.write_bytes(bytes(raw))


def write_cifar(folder: Path, train: list[tuple[np.ndarray, int]], test: list[tuple[np.ndarray, int]]) -> dict:
    """torchvision's cifar-10-batches-py: pickled dicts (data (n, 3072) uint8 channel-major,
    labels), five train batches, test_batch, batches.meta; returns each file's MD5."""
    folder.mkdir(parents=True)
    md5 = {}

    def dump(name: str, obj: dict) -> None:
        data = pickle.dumps(obj, protocol=2)
        (folder / name).write_bytes(data)
        md5[name] = hashlib.md5(data).hexdigest()

    for b in range(5):
        part = train[b::5]
        dump(f"data_batch_{b + 1}", {"batch_label": f"training batch {b + 1} of 5",
                                     "data": np.stack([im.transpose(2, 0, 1).reshape(-1) for im, _ in part]),
                                     "labels": [lab for _, lab in part]})
    dump("test_batch", {"batch_label": "testing batch 1 of 1",
                        "data": np.stack([im.transpose(2, 0, 1).reshape(-1) for im, _ in test]),
                        "labels": [lab for _, lab in test]})
    dump("batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                          "ship", "truck"], "num_cases_per_batch": 1, "num_vis": 3072})
    return md5


# --- SHD / SSC --------------------------------------------------------------------------------

def test_shd_bins_hand_checked_events_and_streams(cache, monkeypatch):
    write_hsd(cache / "shd" / "SHD" / "shd_train.h5", SHD_TRAIN, [f"w{i}" for i in range(20)])
    write_hsd(cache / "shd" / "SHD" / "shd_test.h5", SHD_TRAIN[:1], [f"w{i}" for i in range(20)])
    ds = get_task("shd").dataset("train", steps=5, dt_ms=4.0)
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 3
    x, y = ds[0]
    assert x.shape == (5, 700) and x.dtype == torch.float32 and y.item() == 7
    expected = torch.zeros(5, 700)
    expected[0, 3] = 2  # 1 ms and 1.5 ms: bin 0 counts both
    expected[1, 699] = 1  # 6 ms
    expected[2, 0] = 1  # 10.5 ms
    assert torch.equal(x, expected)  # the 500 ms spike is past 5 x 4 ms: cropped
    x1, y1 = ds[1]
    assert x1.sum() == 1 and x1[0, 350] == 1 and y1.item() == 19
    x2, y2 = ds[2]
    assert x2.shape == (5, 700) and x2.sum() == 0 and y2.item() == 0
    # channel pooling: 700 -> 140 (5 neighbours each), binary clipping
    xp, _ = get_task("shd").dataset("train", steps=5, dt_ms=4.0, channels=140, binary=True)[0]
    assert xp.shape == (5, 140) and xp[0, 0] == 1 and xp[1, 139] == 1 and xp[2, 0] == 1 and xp.sum() == 3
    # load serves a bounded n, reading only those samples from the file (tonic's HDF5 reader)
    import tonic.datasets.hsd as hsd

    reads, real = [], hsd.HSD.__getitem__
    monkeypatch.setattr(hsd.HSD, "__getitem__", lambda self, i: reads.append(i) or real(self, i))
    xs, ys = get_task("shd").load("train", n=2, steps=5, dt_ms=4.0)
    assert xs.shape == (2, 5, 700) and ys.tolist() == [7, 19] and reads == [0, 1]
    _ = ds[2]
    assert reads == [0, 1, 2]  # one sample per __getitem__
    xt, yt = get_task("shd").load("test", steps=5, dt_ms=4.0)  # small split: n=None allowed
    assert xt.shape == (1, 5, 700) and yt.tolist() == [7]


def test_shd_seq_and_ssc_splits(cache):
    write_hsd(cache / "shd" / "SHD" / "shd_train.h5", SHD_TRAIN, [f"w{i}" for i in range(20)])
    x, tgt = get_task("shd-seq").load("train", n=2, steps=5, dt_ms=4.0, label_from=3)
    assert x.shape == (2, 5, 700) and tgt.tolist() == [[-1, -1, -1, 7, 7], [-1, -1, -1, 19, 19]]
    with pytest.raises(ValueError, match="label_from"):
        get_task("shd-seq").dataset("train", steps=5, label_from=5)
    samples = [([0.0101], [12], 34), ([0.0001, 0.0002], [0, 0], 1)]
    for name in ("ssc_train.h5", "ssc_valid.h5", "ssc_test.h5"):
        write_hsd(cache / "ssc" / "SSC" / name, samples, [f"c{i}" for i in range(35)])
    xv, yv = get_task("ssc").load("val", steps=3, dt_ms=5.0)
    assert xv.shape == (2, 3, 700) and yv.tolist() == [34, 1]
    assert xv[0, 2, 12] == 1 and xv[1, 0, 0] == 2 and xv.sum() == 3
    with pytest.raises(ValueError, match="split"):
        get_task("shd").dataset("val")  # SHD has no validation split


# --- N-MNIST ----------------------------------------------------------------------------------

def test_nmnist_bin_files_are_read_one_per_sample(cache, monkeypatch):
    import tonic.datasets.nmnist as tn

    train = cache / "nmnist" / "NMNIST" / "Train"
    # (x, y, p, t us); t = 10_000 is the first instant of bin 1 at dt = 10 ms
    write_nmnist_bin(train / "3" / "00001.bin", [(0, 0, 1, 5), (33, 2, 0, 10_000), (5, 6, 1, 29_999),
                                                 (7, 7, 1, 8_000_000)])
    write_nmnist_bin(train / "8" / "00002.bin", [(1, 1, 0, 0)])
    write_nmnist_bin(cache / "nmnist" / "NMNIST" / "Test" / "0" / "00003.bin", [(2, 3, 1, 100)])
    reads = []
    real = tn.read_mnist_file
    monkeypatch.setattr(tn, "read_mnist_file", lambda f, **kw: reads.append(Path(f).name) or real(f, **kw))
    ds = get_task("nmnist").dataset("train", steps=3, dt_ms=10.0)
    assert len(ds) == 2 and reads == []  # opening the split reads no events
    x, y = ds[0]
    assert reads == ["00001.bin"] and y.item() == 3 and x.shape == (3, 2 * 34 * 34)
    frames = x.reshape(3, 2, 34, 34)  # (step, polarity, y, x)
    assert frames[0, 1, 0, 0] == 1 and frames[1, 0, 2, 33] == 1 and frames[2, 1, 6, 5] == 1 and frames.sum() == 3
    x2, y2 = get_task("nmnist").dataset("train", steps=3, dt_ms=10.0, flatten=False)[1]
    assert x2.shape == (3, 2, 34, 34) and y2.item() == 8 and x2[0, 0, 1, 1] == 1
    xt, yt = get_task("nmnist").load("test", steps=3, dt_ms=10.0)
    assert xt.shape == (1, 3, 2312) and yt.tolist() == [0] and xt[0, 0, 1156 + 3 * 34 + 2] == 1


# --- DVS-Gesture ------------------------------------------------------------------------------

def test_dvs_gesture_npy_layout_downsampled(cache):
    base = cache / "dvs-gesture" / "DVSGesture"
    user = base / "ibmGestureTrain" / "user01_fluorescent"
    user.mkdir(parents=True)
    # tonic's preprocessed release: (N, 4) x, y, polarity, t in ms; label = file name
    np.save(user / "4.npy", np.array([[100, 50, 1, 0], [127, 127, 0, 24], [3, 4, 1, 25], [0, 0, 1, 2000]], np.int64))
    np.save(user / "10.npy", np.array([[64, 64, 0, 10]], np.int64))
    test_user = base / "ibmGestureTest" / "user24_led"
    test_user.mkdir(parents=True)
    np.save(test_user / "0.npy", np.array([[0, 0, 0, 0]], np.int64))
    ds = get_task("dvs-gesture").dataset("train", steps=2, dt_ms=25.0, size=32)
    assert len(ds) == 2
    got = {int(y): x for x, y in (ds[0], ds[1])}
    x = got[4]
    assert x.shape == (2, 2 * 32 * 32)
    f = x.reshape(2, 2, 32, 32)  # (step, polarity, y, x); pixel // 4
    assert f[0, 1, 12, 25] == 1 and f[0, 0, 31, 31] == 1 and f[1, 1, 1, 0] == 1 and f.sum() == 3
    assert got[10].reshape(2, 2, 32, 32)[0, 0, 16, 16] == 1
    xb, yb = collate([ds[0], ds[1]])
    assert xb.shape == (2, 2, 2048) and sorted(yb.tolist()) == [4, 10]
    with pytest.raises(ValueError, match="size"):
        get_task("dvs-gesture").dataset("train", size=48)


# --- CIFAR-10 ---------------------------------------------------------------------------------

def test_cifar10_torchvision_batches_md5_checked(cache, monkeypatch):
    import torchvision

    rng = np.random.default_rng(0)
    train = [(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), i % 10) for i in range(10)]
    test = [(np.full((32, 32, 3), 255, np.uint8), 9)]
    folder = cache / "cifar10" / "cifar-10-batches-py"
    md5 = write_cifar(folder, train, test)
    # torchvision checks each file's MD5 against the real release: give it our fixture's MD5s,
    # so its integrity check runs for real on these files
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f"data_batch_{b}", md5[f"data_batch_{b}"]] for b in range(1, 6)])
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})
    ds = get_task("cifar10").dataset("train", steps=3)
    assert len(ds) == 10
    x, y = ds[0]  # torchvision orders batch 1 first: train[0], train[5], then batch 2 ...
    img, label = train[0]
    assert x.shape == (3, 3, 32, 32) and y.item() == label
    ref = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255)
    assert all(torch.allclose(x[t], ref) for t in range(3))
    assert ds[1][1].item() == train[5][1]
    xt, yt = get_task("cifar10").load("test", steps=2, normalize=True)
    assert xt.shape == (1, 2, 3, 32, 32) and yt.tolist() == [9]
    assert torch.allclose(xt[0, 1, 0], torch.full((32, 32), (1 - 0.4914) / 0.2470))
    # a file that fails torchvision's MD5 check: one ZooError line, never a download
    (folder / "test_batch").write_bytes(b"corrupt")
    with pytest.raises(ZooError, match="MD5") as err:
        get_task("cifar10").dataset("test")
    assert "\n" not in str(err.value)


# --- missing data, bounded load, Dataset plumbing ---------------------------------------------

@pytest.mark.parametrize("name, command", [("shd", "tonic.datasets.SHD(save_to="),
                                           ("ssc", "tonic.datasets.SSC(save_to="),
                                           ("nmnist", "tonic.datasets.NMNIST(save_to="),
                                           ("dvs-gesture", "tonic.datasets.DVSGesture(save_to="),
                                           ("cifar10", "torchvision.datasets.CIFAR10(root=")])
def test_missing_data_is_one_line_with_the_download_command(cache, monkeypatch, name, command):
    def no_network(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(ZooError) as err:
        get_task(name).load("test", n=1)
    msg = str(err.value)
    assert "\n" not in msg and command in msg and str(cache / name) in msg


def test_only_one_split_present_is_reported_missing(cache):
    write_hsd(cache / "shd" / "SHD" / "shd_train.h5", SHD_TRAIN, [f"w{i}" for i in range(20)])
    with pytest.raises(ZooError, match="train=False"):
        get_task("shd").dataset("test")


def test_large_split_needs_n_or_streaming(cache, monkeypatch):
    write_hsd(cache / "shd" / "SHD" / "shd_train.h5", SHD_TRAIN, [f"w{i}" for i in range(20)])
    monkeypatch.setattr("zoo.tasks.MAX_DENSE", 2)
    with pytest.raises(ZooError, match="stream"):
        get_task("shd").load("train", steps=5)
    assert get_task("shd").load("train", n=2, steps=5)[0].shape == (2, 5, 700)
    assert MAX_DENSE >= 1000  # the real bound: evaluation sets of a few hundred samples stay loadable


def test_dataloader_batches_streaming_and_in_memory_tasks(cache):
    write_hsd(cache / "shd" / "SHD" / "shd_train.h5", SHD_TRAIN, [f"w{i}" for i in range(20)])
    loader = torch.utils.data.DataLoader(task_dataset(get_task("shd"), "train", steps=4, dt_ms=4.0),
                                         batch_size=2, collate_fn=collate)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(2, 4, 700), (1, 4, 700)]
    assert torch.cat([b[1] for b in batches]).tolist() == [7, 19, 0]
    digits = task_dataset(get_task("digits"), "test", n=5, steps=4)  # in-memory task: TensorDataset over load
    xb, yb = next(iter(torch.utils.data.DataLoader(digits, batch_size=5, collate_fn=collate)))
    x_ref, y_ref = get_task("digits").load("test", n=5, steps=4)
    assert torch.equal(xb, x_ref) and torch.equal(yb, y_ref)


def test_event_frames_bin_edges():
    from tonic.io import make_structured_array

    from zoo.tasks.events import EventFrames

    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    t = np.array([3999, 0, 4000, 19999, 20000, 7999])  # unsorted on purpose
    ev = make_structured_array(np.array([0, 1, 0, 1, 1, 1]), np.zeros(6, int), t, np.ones(6, int), dtype=dtype)
    f = EventFrames((2, 1, 2), steps=5, dt_us=4000)(ev)
    assert f.shape == (5, 2, 1, 2)
    assert f[:, 1, 0, :].tolist() == [[1, 1], [1, 1], [0, 0], [0, 0], [0, 1]]  # 20000 is past 5 x 4 ms
    empty = EventFrames((2, 1, 2), steps=5, dt_us=4000)(ev[:0])
    assert empty.shape == (5, 2, 1, 2) and empty.sum() == 0


# --- a user's task module ---------------------------------------------------------------------

USER_MODULE = '''
import torch
from zoo.tasks import rate_cross_entropy, spike_count_accuracy, streaming_task


class Ramps(torch.utils.data.Dataset):
    """Sample i: a ramp over 3 inputs for `steps` steps, label i % 2."""

    def __init__(self, split, steps):
        self.n, self.steps = (6 if split == "train" else 2), steps

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return torch.full((self.steps, 3), float(i)), torch.tensor(i % 2)


def dataset(split="train", steps=4):
    return Ramps(split, steps)


streaming_task("user-ramps", dataset, rate_cross_entropy, spike_count_accuracy)
'''


def test_task_module_file_and_errors(tmp_path, monkeypatch):
    from zoo.tasks import TASKS

    mod = tmp_path / "my_tasks.py"
    mod.write_text(USER_MODULE)
    monkeypatch.setattr("zoo.tasks._USER_MODULES", {})
    monkeypatch.setattr(TASKS, "_items", TASKS.snapshot())  # registrations undone after the test
    monkeypatch.delenv("ZOO_TASK_MODULES", raising=False)
    with pytest.raises(ZooError, match="unknown task 'user-ramps'"):
        get_task("user-ramps")
    assert load_task_module(str(mod)) == ["user-ramps"]
    assert load_task_module(str(mod)) == ["user-ramps"]  # imported once
    assert os.environ["ZOO_TASK_MODULES"] == str(mod.resolve())  # for worker processes
    x, y = get_task("user-ramps").load("train", n=3, steps=2)
    assert x.shape == (3, 2, 3) and y.tolist() == [0, 1, 0] and x[2].eq(2).all()
    # a recipe naming the user's task validates against its dataset() parameters
    from zoo.train import validate_recipe

    recipe = {"name": "r", "model": "lif-digits", "task": {"name": "user-ramps", "steps": 2},
              "learning": {"rule": "bptt"}}
    validate_recipe(recipe, "r.toml")
    with pytest.raises(ZooError, match="task.stepz"):
        validate_recipe({**recipe, "task": {"name": "user-ramps", "stepz": 2}}, "r.toml")
    # errors: one line each
    with pytest.raises(ZooError, match="file not found"):
        load_task_module(str(tmp_path / "nope.py"))
    (tmp_path / "empty_tasks.py").write_text("X = 1\n")
    with pytest.raises(ZooError, match="registers no task"):
        load_task_module(str(tmp_path / "empty_tasks.py"))
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom\\nsecond line')\n")
    with pytest.raises(ZooError, match="import failed: RuntimeError: boom second line"):
        load_task_module(str(tmp_path / "broken.py"))
    (tmp_path / "clash.py").write_text(USER_MODULE.replace('"user-ramps"', '"digits"'))
    with pytest.raises(ZooError, match="'digits', which the zoo already has"):
        load_task_module(str(tmp_path / "clash.py"))
    assert get_task("digits").description.startswith("scikit-learn")  # the zoo's task is kept
    with pytest.raises(ZooError, match="no module named 'no_such_zoo_tasks'"):
        load_task_module("no_such_zoo_tasks")


def test_task_module_dotted_name(tmp_path, monkeypatch):
    from zoo.tasks import TASKS

    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(USER_MODULE.replace('"user-ramps"', '"user-ramps-2"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("zoo.tasks._USER_MODULES", {})
    monkeypatch.setattr(TASKS, "_items", TASKS.snapshot())  # registrations undone after the test
    # a process that never called load_task_module (a training worker) finds the task through
    # $ZOO_TASK_MODULES
    monkeypatch.setenv("ZOO_TASK_MODULES", "userpkg.tasks")
    assert len(task_dataset(get_task("user-ramps-2"), "test")) == 2
    assert load_task_module("userpkg.tasks") == ["user-ramps-2"]


# --- recipes ----------------------------------------------------------------------------------

RECIPES = sorted(p for suffix in ("shd", "ssc", "nmnist", "dvs-gesture", "cifar10")
                 for p in (REPO / "recipes").glob(f"*-{suffix}.toml"))


def test_recipes_exist_and_load():
    names = {p.stem for p in RECIPES}
    assert {"hypr-brf-shd", "gamma-shd", "stop-cifar10", "star-dvs-gesture"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates_and_builds(path):
    from zoo.registry import get_entry
    from zoo.tasks import _load_signature  # noqa: F401
    from zoo.train import load_recipe

    recipe = load_recipe(path)
    text = path.read_text()
    assert "no weights ship" in text.lower() or "no weights are shipped" in text.lower()
    task_cfg = dict(recipe["task"])
    task = get_task(task_cfg.pop("name"))
    assert task.dataset is not None
    model = get_entry(recipe["model"]).builder(**recipe.get("model_config", {}))
    # the model takes the task's input shape: build one zero sample of the recipe's shape
    steps = task_cfg.get("steps", 4)
    shapes = {"shd": (700,), "ssc": (700,), "nmnist": (2312,), "cifar10": (3, 32, 32)}
    base = task.name.removesuffix("-seq")
    shape = shapes.get(base) or (2 * task_cfg.get("size", 32) ** 2,)
    if base in ("shd", "ssc"):
        shape = (task_cfg.get("channels", 700),)
    with torch.no_grad():
        out = model(torch.zeros(min(steps, 3), 1, *shape))
    assert out.shape[:2] == (min(steps, 3), 1)
