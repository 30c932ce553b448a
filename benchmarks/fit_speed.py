"""Fit speed of the tutorial recipe: salarynet against Keras 3 (TensorFlow and JAX backends) and PyTorch.

    uv run --extra bench python benchmarks/fit_speed.py [--data FILE] [--scaling] [--seeds 8] [--ideas] [--record]
        [--torch-python PYTHON]

PyTorch runs where it is installed, or with --torch-python, another environment's interpreter that has it
(PyPI's torch wheel brings CUDA: several GB). Every engine records the versions it ran with, and the table
names them. --ideas times the loop's unroll (steps per iteration of the compiled loop): compile and fit.

Every engine trains the same arrays (the tutorial's rows, split and scaling; by default the survey
snapshot shipped with salarynet) with the same layers, optimizer, loss, batch size and validation
split, each in a fresh process, timed from the call that fits to its return (compiles included).
Prints a markdown table; --record also writes it with the raw numbers to benchmarks/results/.
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BATCH, VALIDATION, EPOCHS = 5, 0.2, 100


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------- engines (each in its own process)


def tutorial_fit(x: np.ndarray, labels: np.ndarray, batch: int = BATCH):
    """The tutorial's FitSpec and FitData (Keras's validation split) for scaled inputs x and 0/1 labels."""
    from salarynet.nn import metrics, model, train

    n_fit = train.fit_rows(len(x), VALIDATION)
    y = metrics.one_hot(labels, 2)
    data = train.FitData(x[:n_fit], y[:n_fit], np.ones(n_fit, np.float32), x[n_fit:], y[n_fit:])
    spec = train.FitSpec(
        model.ModelSpec(x.shape[1], (10, 10, 2), ("relu", "relu", "sigmoid")),
        "binary_crossentropy",
        "adagrad",
        None,
        batch,
        True,
    )
    return spec, data


def engine_salarynet(arrays, epochs):
    from salarynet.data import source
    from salarynet.nn import forward, train

    source.use_compile_cache()  # SALARYNET_COMPILE_CACHE: off for the cold run, a fresh folder for the cached one
    train.UNROLL = int(os.environ.get("FIT_SPEED_UNROLL", train.UNROLL))  # --ideas
    spec, data = tutorial_fit(arrays["x_train"], arrays["y_train"])
    started = time.perf_counter()
    params, history = train.fit(spec, 42, data, epochs)
    seconds = time.perf_counter() - started
    if os.environ.get("FIT_SPEED_UNROLL"):  # --ideas: then the fit alone, compiled already: the best of five
        warm = []
        for _ in range(5):
            again = time.perf_counter()
            train.fit(spec, 42, data, epochs)
            warm.append(time.perf_counter() - again)
        IDEA["warm_seconds"] = min(warm)
    out = forward.apply(spec.model, params, arrays["x_test"])
    return seconds, float(history["val_loss"][-1]), float(np.mean(out.argmax(1) == arrays["y_test"]))


def engine_keras(arrays, epochs):
    import keras

    keras.utils.set_random_seed(42)
    x, y = arrays["x_train"], keras.utils.to_categorical(arrays["y_train"], 2)
    net = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(2, activation="sigmoid"),
        ]
    )
    net.compile(loss="binary_crossentropy", optimizer="adagrad", metrics=["accuracy"])
    started = time.perf_counter()
    history = net.fit(x, y, epochs=epochs, batch_size=BATCH, validation_split=VALIDATION, shuffle=True, verbose=0)
    seconds = time.perf_counter() - started
    _, accuracy = net.evaluate(arrays["x_test"], keras.utils.to_categorical(arrays["y_test"], 2), verbose=0)
    return seconds, float(history.history["val_loss"][-1]), float(accuracy)


def engine_torch(arrays, epochs):
    import torch

    torch.manual_seed(42)
    torch.set_num_threads(os.cpu_count() or 1)
    x = torch.tensor(arrays["x_train"])
    y = torch.nn.functional.one_hot(torch.tensor(arrays["y_train"]).long(), 2).float()
    n_fit = int(np.floor(len(x) * (1 - VALIDATION)))
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 10),
        torch.nn.ReLU(),
        torch.nn.Linear(10, 10),
        torch.nn.ReLU(),
        torch.nn.Linear(10, 2),
        torch.nn.Sigmoid(),
    )
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adagrad(net.parameters(), lr=0.001, initial_accumulator_value=0.1, eps=1e-7)
    loss_fn = torch.nn.BCELoss()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n_fit)
        for start in range(0, n_fit, BATCH):
            rows = order[start : start + BATCH]
            opt.zero_grad()
            loss = loss_fn(net(x[rows]).clamp(1e-7, 1 - 1e-7), y[rows])
            loss.backward()
            opt.step()
        with torch.no_grad():
            val_loss = float(loss_fn(net(x[n_fit:]).clamp(1e-7, 1 - 1e-7), y[n_fit:]))
    seconds = time.perf_counter() - started
    with torch.no_grad():
        accuracy = float((net(torch.tensor(arrays["x_test"])).argmax(1).numpy() == arrays["y_test"]).mean())
    return seconds, val_loss, accuracy


ENGINES = {"salarynet": engine_salarynet, "keras": engine_keras, "torch": engine_torch}
IDEA: dict[str, float] = {}  # what --ideas measures beside the fit


def versions(engine: str) -> dict[str, str]:
    """The versions an engine ran with (read after it ran: its modules are loaded)."""
    from importlib.metadata import PackageNotFoundError, version

    names = {
        "salarynet": ["jax", "jaxlib", "optax"],
        "torch": ["torch"],
        "keras": ["keras", "jax" if os.environ.get("KERAS_BACKEND") == "jax" else "tensorflow-cpu"],
    }[engine]
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            if name == "tensorflow-cpu":
                with contextlib.suppress(PackageNotFoundError):
                    found["tensorflow"] = version("tensorflow")
    return found


def worker(args) -> None:
    with np.load(args.arrays, allow_pickle=False) as f:
        arrays = dict(f)
    seconds, val_loss, accuracy = ENGINES[args.engine](arrays, args.epochs)
    Path(args.result).write_text(
        json.dumps(
            {
                "seconds": seconds,
                "val_loss": val_loss,
                "test_accuracy": accuracy,
                "peak_rss_mb": peak_rss_mb(),
                "versions": versions(args.engine),
            }
            | IDEA
        )
    )


# ---------------------------------------------------------------- the driver


def run_engine(label, engine, arrays_path, epochs, env=None, python: str | None = None) -> dict | None:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        cmd = [
            python or sys.executable,
            __file__,
            "--engine",
            engine,
            "--arrays",
            str(arrays_path),
            "--epochs",
            str(epochs),
            "--result",
            result.name,
        ]
        print(f"  {label}: {epochs} epochs ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, env=os.environ | (env or {}), capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {label} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        row = json.loads(Path(result.name).read_text())
    with np.load(arrays_path) as f:
        n_train = int(f["x_train"].shape[0])
    steps_per_epoch = -(-int(np.floor(n_train * (1 - VALIDATION))) // BATCH)
    row |= {
        "engine": label,
        "epochs_run": epochs,
        "steps": steps_per_epoch * epochs,
        "steps_per_second": steps_per_epoch * epochs / row["seconds"],
        "seconds_100_epochs": row["seconds"] * EPOCHS / epochs,
    }
    return row


def prepare_arrays(data: str | None, folder: Path) -> Path:
    from salarynet.data.source import open_survey
    from salarynet.errors import SalarynetError
    from salarynet.fitting import prepare
    from salarynet.recipe import load_recipe
    from salarynet.rows import select_rows

    try:
        survey, recipe = open_survey(data)[0], load_recipe("tutorial")
        prep = prepare(select_rows(survey, recipe), recipe, survey.path)
    except SalarynetError as e:
        sys.exit(f"error: {e}")
    path = folder / "tutorial-arrays.npz"
    np.savez(path, x_train=prep.x_train.numeric, y_train=prep.y_train, x_test=prep.x_test.numeric, y_test=prep.y_test)
    return path


def cli_peak_rss(data: str | None, folder: Path) -> float:
    """Peak RSS of the whole `salarynet train` command on the tutorial recipe, in a process of its own."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [
        sys.executable,
        "-c",
        probe,
        sys.executable,
        "-m",
        "salarynet",
        "train",
        "--data",
        data or "embedded",
        "--out",
        str(folder / "cli-run"),
    ]
    return int(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout) / 1024


def scaling(arrays_path: Path, epochs: int) -> list[dict]:
    """Samples/second of salarynet's fit as rows grow (x1, x4, x16) and as the batch grows (5, 32, 256)."""
    from salarynet.nn import train

    with np.load(arrays_path) as f:
        x0, y0 = f["x_train"], f["y_train"]
    rows = []
    for copies, batch in [(1, 5), (4, 5), (16, 5), (1, 32), (1, 256)]:
        spec, data = tutorial_fit(np.tile(x0, (copies, 1)), np.tile(y0, copies), batch)
        n_fit = len(data.x)
        train.fit(spec, 0, data, epochs)  # compile
        started = time.perf_counter()
        train.fit(spec, 0, data, epochs)
        seconds = time.perf_counter() - started
        steps = -(-n_fit // batch) * epochs
        rows.append(
            {
                "rows": f"x{copies} ({n_fit})",
                "batch": batch,
                "epochs": epochs,
                "seconds": seconds,
                "steps_per_second": steps / seconds,
                "samples_per_second": n_fit * epochs / seconds,
            }
        )
        print(f"  scaling x{copies} batch {batch}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return rows


def many_seeds(arrays_path: Path, seeds: int) -> dict:
    """`train --seeds N`'s engine: N models in one vmapped call against N calls one after another."""
    from salarynet.nn import train

    with np.load(arrays_path) as f:
        spec, data = tutorial_fit(f["x_train"], f["y_train"])
    started = time.perf_counter()
    for seed in range(seeds):
        train.fit(spec, seed, data, EPOCHS)
    sequential = time.perf_counter() - started
    stacked = train.FitData(*(np.stack([a] * seeds) for a in data))
    started = time.perf_counter()
    train.fit_many(spec, list(range(seeds)), stacked, EPOCHS)
    batched = time.perf_counter() - started
    return {
        "seeds": seeds,
        "sequential_seconds": sequential,
        "batched_seconds": batched,
        "sequential_models_per_second": seeds / sequential,
        "batched_models_per_second": seeds / batched,
    }


def version_text(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {v}" for name, v in versions.items())


def markdown(rows: list[dict]) -> str:
    """The engines' table; the two ratios are to salarynet compiling (cold) and with its compile cached."""
    cold, cached = (rows[0]["seconds_100_epochs"], rows[1]["seconds_100_epochs"])
    lines = [
        "| engine | versions | epochs run | seconds (100 epochs) | steps/s | x salarynet cold | x salarynet cached "
        "| final val loss | test accuracy | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scaled = "" if r["epochs_run"] == EPOCHS else f" (x{EPOCHS // r['epochs_run']} from {r['seconds']:.1f})"
        lines.append(
            f"| {r['engine']} | {version_text(r['versions'])} | {r['epochs_run']} | "
            f"{r['seconds_100_epochs']:.2f}{scaled} | {r['steps_per_second']:,.0f} | "
            f"{r['seconds_100_epochs'] / cold:.1f} | {r['seconds_100_epochs'] / cached:.1f} | "
            f"{r['val_loss']:.4f} | {r['test_accuracy']:.4f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def readme_table(report: dict) -> str:
    """The speed table of docs/benchmarks.md from a recorded report (tests/test_docs.py holds the page to it)."""
    lines = [
        "| engine | versions | seconds for 100 epochs | steps/s | × salarynet cold | × salarynet cached "
        "| peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["engines"]:
        scaled = "" if r["epochs_run"] == EPOCHS else f" ({r['epochs_run']} epochs × {EPOCHS // r['epochs_run']})"
        lines.append(
            f"| {r['engine']} | {version_text(r['versions'])} | {r['seconds_100_epochs']:.2f}{scaled} | "
            f"{r['steps_per_second']:,.0f} | {r['ratio_to_salarynet']:.1f} | "
            f"{r['ratio_to_salarynet_cached']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def ideas(arrays: Path) -> list[dict]:
    """The loop's unroll, each value in a fresh process without the compile cache: the whole first fit
    (compile included) and the best of five fits once compiled."""
    found = []
    for unroll in (1, 2, 4, 8):
        row = run_engine(
            f"unroll {unroll}",
            "salarynet",
            arrays,
            EPOCHS,
            {"SALARYNET_COMPILE_CACHE": "off", "FIT_SPEED_UNROLL": str(unroll)},
        )
        if row:
            found.append(
                {
                    "unroll": unroll,
                    "first_fit_seconds": row["seconds"],
                    "warm_seconds": row["warm_seconds"],
                    "compile_seconds": row["seconds"] - row["warm_seconds"],
                    "us_per_step": row["warm_seconds"] / row["steps"] * 1e6,
                    "val_loss": row["val_loss"],
                }
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="survey file (default: the snapshot shipped with salarynet)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/fit_speed.{md,json}")
    parser.add_argument("--keras-tf-epochs", type=int, default=10, help="Keras-TF is slow: run this many, scale to 100")
    parser.add_argument("--keras-jax-epochs", type=int, default=100)
    parser.add_argument("--torch-epochs", type=int, default=10)
    parser.add_argument("--scaling", action="store_true", help="also time rows x1/x4/x16 and batch 5/32/256")
    parser.add_argument("--scaling-epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=0, help="also time N seeds batched vs one by one")
    parser.add_argument("--ideas", action="store_true", help="also time the compiled loop's unroll 1, 2, 4, 8")
    parser.add_argument("--torch-python", help="an interpreter with PyTorch (and numpy) for the PyTorch engine")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument(
        "--readme", action="store_true", help="print the table of docs/benchmarks.md from the recorded results"
    )
    args = parser.parse_args()
    if args.engine:
        return worker(args)
    if args.readme:
        return print(readme_table(json.loads((RESULTS / "fit_speed.json").read_text())))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        arrays = prepare_arrays(args.data, folder)
        warm = {"SALARYNET_COMPILE_CACHE": str(folder / "xla")}
        import importlib.util

        plan = [
            ("salarynet (compile included)", "salarynet", EPOCHS, {"SALARYNET_COMPILE_CACHE": "off"}),
            ("salarynet, warm-up for the cache", "salarynet", EPOCHS, warm),
            ("salarynet (compile cached)", "salarynet", EPOCHS, warm),
            ("Keras 3, JAX backend", "keras", args.keras_jax_epochs, {"KERAS_BACKEND": "jax"}),
            ("Keras 3, TensorFlow backend", "keras", args.keras_tf_epochs, {"KERAS_BACKEND": "tensorflow"}),
        ]
        if args.torch_python or importlib.util.find_spec("torch"):
            plan.append(("PyTorch eager loop", "torch", args.torch_epochs, {}))
        rows = [
            run_engine(label, engine, arrays, epochs, env, args.torch_python if engine == "torch" else None)
            for label, engine, epochs, env in plan
        ]
        rows = [r for r in rows if r is not None and "warm-up" not in r["engine"]]
        for r in rows:
            r["ratio_to_salarynet"] = r["seconds_100_epochs"] / rows[0]["seconds_100_epochs"]
            r["ratio_to_salarynet_cached"] = r["seconds_100_epochs"] / rows[1]["seconds_100_epochs"]
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "data": args.data or "embedded",
            "engines": rows,
            "salarynet_train_peak_rss_mb": cli_peak_rss(args.data, folder),
        }
        if args.scaling:
            report["scaling"] = scaling(arrays, args.scaling_epochs)
        if args.seeds:
            report["many_seeds"] = many_seeds(arrays, args.seeds)
        if args.ideas:
            report["ideas"] = ideas(arrays)

    load = os.getloadavg()
    report["load_average"] = load
    text = [
        f"# Fit speed, tutorial recipe ({report['when']}, {report['cpus']} CPUs, load average after "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
        "",
        markdown(rows),
        "",
        f"Peak RSS of the whole `salarynet train` command (tutorial recipe): {report['salarynet_train_peak_rss_mb']:.0f} MB",
    ]
    if "scaling" in report:
        text += [
            "",
            "| rows fitted | batch | epochs | seconds | steps/s | samples/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        text += [
            f"| {r['rows']} | {r['batch']} | {r['epochs']} | {r['seconds']:.2f} | {r['steps_per_second']:,.0f} | "
            f"{r['samples_per_second']:,.0f} |"
            for r in report["scaling"]
        ]
    if "many_seeds" in report:
        m = report["many_seeds"]
        text += [
            "",
            f"{m['seeds']} seeds x 100 epochs: one vmapped call {m['batched_seconds']:.2f} s "
            f"({m['batched_models_per_second']:.2f} models/s) vs one by one {m['sequential_seconds']:.2f} s "
            f"({m['sequential_models_per_second']:.2f} models/s)",
        ]
    if "ideas" in report:
        text += [
            "",
            "The compiled loop's unroll (steps per loop iteration), each without the compile cache:",
            "",
            "| unroll | first fit s (compile included) | fit s once compiled (best of 5) | compile s | us/step | val loss |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        text += [
            f"| {r['unroll']} | {r['first_fit_seconds']:.2f} | {r['warm_seconds']:.2f} | {r['compile_seconds']:.2f} | "
            f"{r['us_per_step']:.2f} | {r['val_loss']:.4f} |"
            for r in report["ideas"]
        ]
    print("\n".join(text))
    if args.record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fit_speed.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / "fit_speed.md").write_text("\n".join(text) + "\n")
        print(f"recorded {RESULTS / 'fit_speed.md'} and fit_speed.json", file=sys.stderr)


if __name__ == "__main__":
    main()
