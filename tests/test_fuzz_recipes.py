"""Fuzzing the input boundaries: recipe files (``zoo.train.load_recipe``), weights records
(``Weights.from_json``) and safetensors files whose SHA-256 matches (``zoo.get_model``).

Hypothesis runs derandomized with bounded examples and no example database. Every trial must
end in a clean one-line :class:`ZooError` (:class:`HubError` for the hub) naming the file, or in
a correct result; any other exception is a traceback and fails. Mutations whose verdict is known
(e.g. ``lr`` set to a non-positive or non-finite number) must be rejected, the harmless ones
accepted. The per-class tally is printed at the end of the module.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
import zoo.registry as reg
from zoo.hub import HubError
from zoo.registry import Weights, ZooError
from zoo.train import load_recipe

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=120,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TALLY: dict[str, Counter] = defaultdict(Counter)
NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    from test_hub_faults import report_tally

    report_tally(request, "fuzz suite", TALLY)


def outcome(kind: str, call: Callable[[], Any], file: Path) -> Any:
    """``call()``'s result, or None after a clean one-line error naming ``file``; tallied."""
    TALLY[kind]["trials"] += 1
    try:
        result = call()
    except (ZooError, HubError) as exc:
        msg = str(exc)
        assert "\n" not in msg and str(file) in msg, msg
        TALLY[kind]["clean"] += 1
        return None
    except BaseException as exc:
        TALLY[kind]["traceback"] += 1
        raise AssertionError(f"{kind}: {type(exc).__name__}: {exc}") from exc
    TALLY[kind]["ok"] += 1
    return result


# ------------------------------------------------------------------ recipes: a small TOML writer
def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are TOML basic-string escapes
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(recipe: dict[str, Any]) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in recipe.items() if not isinstance(v, dict)]
    for k, v in recipe.items():
        if isinstance(v, dict):
            lines.append(f"[{json.dumps(k)}]")
            lines += [f"{json.dumps(kk)} = {toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def base_recipe(path: Path) -> dict[str, Any]:
    recipe = load_recipe(path)
    recipe.pop("_path")
    return recipe


scalars = st.one_of(
    st.integers(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["../escaped", "", ".hidden", "a/b", "lif-digits", "adam", "bptt"]),
    st.dates(), st.times(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                      st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
KNOWN_KEYS = ["name", "model", "seed", "dt", "contract", "model_config", "task", "learning", "lava_fixed",
              "learning.lr", "learning.epochs", "learning.batch_size", "learning.rule", "learning.optimizer",
              "learning.train_samples", "task.name", "task.steps", "model_config.n_hidden"]


@st.composite
def mutated_recipes(draw: Any) -> tuple[dict[str, Any], str, str]:
    """(recipe, class, expected verdict: "reject" | "accept" | "either")."""
    recipe = base_recipe(draw(st.sampled_from(RECIPES)))
    op = draw(st.sampled_from(["set", "delete", "unknown", "bad-lr", "bad-count", "bad-name", "good"]))
    if op == "set":
        key = draw(st.sampled_from(KNOWN_KEYS))
        table, _, leaf = key.rpartition(".")
        target = recipe.setdefault(table, {}) if table else recipe
        if not isinstance(target, dict):
            return recipe, "set-value", "either"
        target[leaf] = draw(values)
        return recipe, "set-value", "either"
    if op == "delete":
        key = draw(st.sampled_from(sorted(recipe)))
        del recipe[key]
        return recipe, "delete-key", "reject" if key in ("name", "model", "task", "learning") else "either"
    if op == "unknown":
        table = draw(st.sampled_from(["", "learning", "task"]))
        key = draw(st.text(min_size=0, max_size=10))
        target = recipe.get(table, {}) if table else recipe
        known = {"learning": set(target), "task": set(target), "": set(recipe)}[table]
        if key in known or (table == "task" and recipe["task"].get("name") == "bsd"):  # bsd takes **kw
            return recipe, "unknown-key", "either"
        target[key] = draw(scalars)
        return recipe, "unknown-key", "reject"
    if op == "bad-lr":
        recipe["learning"]["lr"] = draw(st.one_of(st.floats(max_value=0.0), st.sampled_from([math.inf, math.nan]),
                                                  st.integers(max_value=0), st.text(max_size=3), st.booleans()))
        return recipe, "bad-lr", "reject"
    if op == "bad-count":
        key = draw(st.sampled_from(["epochs", "batch_size", "train_samples"]))
        recipe["learning"][key] = draw(st.one_of(st.integers(max_value=0), st.floats(), st.booleans(),
                                                 st.text(max_size=3)))
        return recipe, "bad-count", "reject"
    if op == "bad-name":
        recipe["name"] = draw(st.one_of(st.text(max_size=20).filter(lambda s: not NAME.fullmatch(s)),
                                        st.sampled_from(["../escaped", "/abs", "a/b", "a\\b", ".x", ".."])))
        return recipe, "bad-name", "reject"
    learning = recipe["learning"]
    learning["lr"] = draw(st.floats(min_value=1e-12, max_value=1e3))
    learning["epochs"] = draw(st.integers(1, 1000))
    recipe["seed"] = draw(st.integers(0, 2 ** 32))
    return recipe, "good-values", "accept"


def check_recipe(recipe: dict[str, Any]) -> None:
    """What load_recipe promises about a recipe it accepts."""
    assert NAME.fullmatch(recipe["name"])
    learning = recipe["learning"]
    for key in ("epochs", "batch_size", "train_samples"):
        if key in learning:
            assert type(learning[key]) is int and learning[key] >= 1
    if "lr" in learning:
        assert type(learning["lr"]) in (int, float) and math.isfinite(learning["lr"]) and learning["lr"] > 0
    assert type(recipe.get("seed", 0)) is int

    def finite(v: Any) -> bool:
        if isinstance(v, dict):
            return all(finite(x) for x in v.values())
        if isinstance(v, list):
            return all(finite(x) for x in v)
        return not isinstance(v, float) or math.isfinite(v)

    assert finite(recipe)
    json.dumps(recipe)  # the distributed launcher ships it as JSON


@FUZZ
@given(case=mutated_recipes())
def test_fuzz_recipe_values(tmp_path_factory: pytest.TempPathFactory, case: tuple) -> None:
    recipe, kind, verdict = case
    path = tmp_path_factory.mktemp("recipe") / "r.toml"
    path.write_text(to_toml(recipe), encoding="utf-8")
    got = outcome(f"recipe:{kind}", lambda: load_recipe(path), path)
    assert verdict != "reject" or got is None, f"{kind}: accepted {recipe}"
    assert verdict != "accept" or got is not None, f"{kind}: rejected {recipe}"
    if got is not None:
        assert got.pop("_path") == str(path) and got == recipe
        check_recipe(got)


@st.composite
def damaged_bytes(draw: Any, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[at:at + draw(st.integers(1, 16))]
        else:
            del buf[at:]
    return bytes(buf)


@FUZZ
@given(data=st.data())
def test_fuzz_recipe_bytes(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(RECIPES))
    path = tmp_path_factory.mktemp("recipe") / "r.toml"
    path.write_bytes(data.draw(damaged_bytes(source.read_bytes())))
    got = outcome("recipe:damaged-bytes", lambda: load_recipe(path), path)
    if got is not None:
        got.pop("_path")
        check_recipe(got)


# ------------------------------------------------------------------ weights records and files
@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(reg.WEIGHTS_DIR / f"lif-digits{suffix}", folder)
    monkeypatch.setattr(reg, "WEIGHTS_DIR", folder)
    return folder


RECORD_BYTES = (reg.WEIGHTS_DIR / "lif-digits.json").read_bytes()
RECORD = json.loads(RECORD_BYTES)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=5)


def check_weights(w: Weights) -> None:
    """What Weights.from_json promises about a record it accepts."""
    assert isinstance(w.name, str) and isinstance(w.recipe, str)
    assert isinstance(w.file, str) and w.file and "/" not in w.file and "\\" not in w.file and w.file not in (".", "..")
    assert re.fullmatch(r"[0-9a-fA-F]{64}", w.sha256)
    assert w.url is None or isinstance(w.url, str)
    assert isinstance(w.meta, dict) and isinstance(w.metrics, dict) and isinstance(w.config, dict)


@FUZZ
@given(data=st.data())
def test_fuzz_weights_record(weights_dir: Path, data: st.DataObject) -> None:
    path = weights_dir / "lif-digits.json"
    if data.draw(st.booleans()):
        kind = "record:damaged-bytes"
        path.write_bytes(data.draw(damaged_bytes(RECORD_BYTES)))
    else:
        kind = "record:set-or-delete"
        record = json.loads(json.dumps(RECORD))
        key = data.draw(st.sampled_from(sorted(record) + ["meta.metrics", "meta.config"]))
        table, _, leaf = key.rpartition(".")
        target = record[table] if table else record
        if data.draw(st.booleans()):
            target.pop(leaf, None)
        else:
            target[leaf] = data.draw(json_values)
        path.write_text(json.dumps(record))
    got = outcome(kind, lambda: Weights.from_json(path), path)
    if got is not None:
        check_weights(got)
    listed = outcome("record:registry-entry", lambda: zoo.get_entry("lif-digits").weights, path)
    assert (listed is None) == (got is None)


SAFETENSORS = (reg.WEIGHTS_DIR / "lif-digits.safetensors").read_bytes()
HEADER_LEN = int.from_bytes(SAFETENSORS[:8], "little")


@st.composite
def damaged_safetensors(draw: Any) -> tuple[str, bytes]:
    op = draw(st.sampled_from(["truncate", "header-bytes", "header-json", "length-field", "data-bytes"]))
    data = bytearray(SAFETENSORS)
    if op == "truncate":
        return op, bytes(data[:draw(st.integers(0, len(data) - 1))])
    if op == "header-bytes":
        return op, draw(damaged_bytes(bytes(data[:8 + HEADER_LEN]))) + bytes(data[8 + HEADER_LEN:])
    if op == "length-field":
        return op, draw(st.integers(0, 2 ** 64 - 1)).to_bytes(8, "little") + bytes(data[8:])
    if op == "header-json":
        header = json.loads(data[8:8 + HEADER_LEN])
        key = draw(st.sampled_from(sorted(header)))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", None]))
        if field is None:
            header.pop(key)
        elif isinstance(header[key], dict):
            header[key][field] = draw(json_values | st.sampled_from(["F16", "BF16", "I8", "BOOL", "F64"]))
        raw = json.dumps(header).encode()
        return op, len(raw).to_bytes(8, "little") + raw + bytes(data[8 + HEADER_LEN:])
    at = draw(st.integers(8 + HEADER_LEN, len(data) - 4))
    data[at:at + 4] = draw(st.sampled_from([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x01\x02\x03\x04"]))
    return op, bytes(data)  # NaN, inf or another finite value inside a float tensor


@settings(FUZZ, max_examples=80)
@given(case=damaged_safetensors())
def test_fuzz_safetensors_with_matching_hash(weights_dir: Path, case: tuple[str, bytes]) -> None:
    from safetensors.torch import load_file

    op, data = case
    path = weights_dir / "lif-digits.safetensors"
    path.write_bytes(data)
    record = dict(RECORD, sha256=hashlib.sha256(data).hexdigest())
    (weights_dir / "lif-digits.json").write_text(json.dumps(record))
    model = outcome(f"safetensors:{op}", lambda: zoo.get_model("lif-digits"), path)
    if model is not None:  # accepted: exactly the file's tensors, all finite
        state = load_file(str(path))
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key].to(value.dtype))
            assert not value.is_floating_point() or bool(torch.isfinite(value).all())
