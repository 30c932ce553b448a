"""salarynet sweep: recipes x folds x seeds on Dask, a LocalCluster on 127.0.0.1 or a given scheduler.

A trial is one recipe (the base recipe with one combination of the grid's values). Trials that differ
only in their learning rate form a group: one task, which trains every trial, fold and seed of the
group with one compiled, vmapped call per fold (the rate is a value in the training state). Tasks
are small and pure: (survey, base recipe, group, folds, seeds) in, metrics out; the survey is
scattered to the workers once. Each finished trial is written at once (DIR/trials/<id>.json), so an
interrupted sweep keeps its results and --resume skips them.
"""

import hashlib
import itertools
import json
import math
import os
import random
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data.files import write_whole
from ..data.survey import Survey
from ..errors import DataError, RecipeError, first_problem
from ..evaluation import cross_validate
from ..nn.metrics import mean_sd
from ..recipe import apply_overrides, apply_values, parse_table, read_recipe_source, validate_recipe
from ..rows import select_rows
from ..tasks import task_of

BATCHED = "compile.learning_rate"  # a value in the compiled fit: trials that differ only here share one call
LOWER_IS_BETTER = ("loss", "log_loss", "median_absolute_error", "mean_absolute_error")
MAX_TRIALS = 10_000  # each trial is validated as a recipe and trained folds x seeds times


class SearchSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["grid", "random"] = "grid"
    trials: int | None = Field(None, gt=0, le=MAX_TRIALS)  # random: how many combinations to draw
    seed: int = 0  # random: which ones
    metric: str | None = None  # what "best" means; default: auc (binary), accuracy (bands), median $ error (regression)


class GridFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grid: dict[str, list[Any]] = Field(min_length=1)
    search: SearchSection = SearchSection()


@dataclass(frozen=True)
class Trial:
    id: str
    values: dict[str, Any]  # dotted recipe key -> value


@dataclass(frozen=True)
class Plan:
    base: dict[str, Any]  # the base recipe's raw table
    base_name: str
    trials: list[Trial]
    keys: list[str]  # the swept keys, in the grid file's order
    metric: str
    task: str


def read_grid(path: Path) -> GridFile:
    try:
        raw = parse_table(path.read_text(encoding="utf-8"), str(path))
    except OSError as e:
        raise DataError(f"{path}: cannot read the grid ({e.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid TOML: {e}") from None
    except ValueError as e:
        raise DataError(str(e)) from None
    try:
        grid = GridFile.model_validate(raw)
    except ValidationError as e:
        where, msg, first = first_problem(e, unknown_first=True)
        msg = "unknown name" if first["type"] == "extra_forbidden" else msg
        raise DataError(
            f'{path}: {where}: {msg} (a grid file has [grid] "section.key" = [values, ...] '
            "and optionally [search] kind, trials, seed, metric)"
        ) from None
    for key, values in grid.grid.items():
        if not values:
            raise DataError(f"{path}: grid.{key!r} has no values; give a list of at least one")
    if grid.search.kind == "random" and grid.search.trials is None:
        raise DataError(f'{path}: [search] kind = "random" needs trials = N')
    return grid


def combinations(grid: GridFile, path: Path) -> list[dict[str, Any]]:
    """The grid's combinations, or a random draw of them, without listing more than are drawn."""
    lists = list(grid.grid.values())
    total = math.prod(len(v) for v in lists)
    wanted = total if grid.search.kind == "grid" else min(grid.search.trials or 0, total)
    if wanted > MAX_TRIALS:
        raise DataError(
            f"{path}: {total:,} combinations{'' if wanted == total else f', {wanted:,} drawn'}; at most "
            f'{MAX_TRIALS:,} trials in one sweep ([search] kind = "random" with trials = N draws some)'
        )
    if grid.search.kind == "grid":
        return [dict(zip(grid.grid, values)) for values in itertools.product(*lists)]
    picks = random.Random(grid.search.seed).sample(range(total), wanted)
    out = []
    for pick in picks:  # the pick-th combination, in itertools.product's order
        values = []
        for options in reversed(lists):
            pick, i = divmod(pick, len(options))
            values.append(options[i])
        out.append(dict(zip(grid.grid, reversed(values))))
    return out


def _trial_id(values: dict[str, Any], context: dict[str, Any]) -> str:
    text = json.dumps({"values": values, **context}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def plan(
    base: str, grid_path: Path, folds: int, seeds: int, data_sha: str | None, overrides: list[str] | None = None
) -> Plan:
    """Every trial of the grid (or a random draw of them), each checked as a recipe before anything runs.
    overrides: --set KEY=VALUE items applied to the base recipe first."""
    grid = read_grid(grid_path)
    raw, origin = read_recipe_source(base)
    raw = apply_overrides(raw, list(overrides or []))
    combos = combinations(grid, grid_path)
    # scoring 2: each fold's model trained as `train` trains it (its own split, the blend, the refit), folds from 1;
    # a sweep folder of the earlier scoring is not resumed into this one
    context = {"base": raw, "folds": folds, "seeds": seeds, "data": data_sha, "scoring": 2}
    trials = []
    for values in combos:
        try:
            recipe = validate_recipe(apply_values(raw, values, flag=f"{grid_path}: grid"), origin)
        except RecipeError as e:
            raise RecipeError(f"{e} (from {grid_path}: {json.dumps(values)})") from None
        trials.append(Trial(_trial_id(values, context), values))
    task = task_of(recipe.features)
    return Plan(raw, origin, trials, list(grid.grid), grid.search.metric or task.sweep_metric, task.name)


def groups(trials: list[Trial], batch: bool) -> list[list[Trial]]:
    """Trials that differ only in the learning rate, together (with batch); else one trial a group."""
    if not batch:
        return [[t] for t in trials]
    by_rest: dict[str, list[Trial]] = {}
    for t in trials:
        rest = json.dumps({k: v for k, v in t.values.items() if k != BATCHED}, sort_keys=True, default=str)
        by_rest.setdefault(rest, []).append(t)
    return list(by_rest.values())


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def run_group(
    survey: Survey, base: dict[str, Any], group: list[Trial], folds: int, seeds: int, batch: bool = True
) -> list[dict[str, Any]]:
    """The task: cross-validate every trial of the group on the same stratified folds, `seeds` seeds each (the
    recipe's seed, +1, ...), each fold's model trained as `salarynet train` trains the model it saves
    (evaluation.cross_validate) -> one result per trial: metrics per fold and seed, and their mean and sd.
    With batch, the group's trials (they differ only in the learning rate) train in one call a fold."""
    from ..data.source import use_compile_cache

    use_compile_cache()
    started = time.perf_counter()
    recipes = [validate_recipe(apply_values(base, t.values)) for t in group]
    sel = select_rows(survey, recipes[0])
    batches = [recipes] if batch else [[r] for r in recipes]
    runs = [member for chunk in batches for member in cross_validate(chunk, sel, folds, seeds).runs]
    seconds = time.perf_counter() - started
    where = _where()
    results = []
    for i, t in enumerate(group):
        trial_runs = [
            {k: v for k, v in run.items() if isinstance(v, (int, float)) and v is not None and k != "seconds"}
            for member in runs[i * seeds : (i + 1) * seeds]
            for run in member
        ]
        trial_runs.sort(key=lambda r: (r["fold"], r["seed"]))
        results.append(
            {
                "trial": t.id,
                "values": t.values,
                "runs": trial_runs,
                "summary": summarise(trial_runs),
                "seconds": seconds / len(group),
                "group": len(group),
                "worker": where,
            }
        )
    return results


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for key in runs[0]:
        if key in ("fold", "seed", "seconds"):
            continue
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if values:
            out[key] = mean_sd(values)
    return out


# ---------------------------------------------------------------- the output folder


def trial_path(out: Path, trial_id: str) -> Path:
    return out / "trials" / f"{trial_id}.json"


def write_json_atomic(path: Path, obj: Any) -> None:
    write_whole(path, json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n")


def finished(out: Path, trials: list[Trial]) -> tuple[dict[str, dict[str, Any]], list[Path]]:
    """The trials already done (their files), and the trial files that are not a finished trial's result
    (damaged, or edited): those trials run again."""
    done, damaged = {}, []
    for t in trials:
        path = trial_path(out, t.id)
        if not path.exists():
            continue
        try:
            result = json.loads(path.read_text())
            summary = result["summary"]
            ok = (
                result["trial"] == t.id
                and result["values"] == t.values
                and isinstance(summary, dict)
                and all(
                    isinstance(s["mean"], float | int) and isinstance(s["sd"], float | int) for s in summary.values()
                )
            )
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            ok = False
        if ok:
            done[t.id] = result
        else:
            damaged.append(path)
    return done, damaged


def _better(metric: str) -> Callable[[float], float]:
    return (lambda v: v) if metric in LOWER_IS_BETTER else (lambda v: -v)


def write_tables(out: Path, the_plan: Plan, results: dict[str, dict[str, Any]]) -> None:
    """results.json and results.csv: one row per finished trial, best first."""
    import pandas as pd

    key = _better(the_plan.metric)
    ordered = sorted(results.values(), key=lambda r: key(r["summary"].get(the_plan.metric, {}).get("mean", math.inf)))
    rows = []
    for r in ordered:
        row = {
            "trial": r["trial"],
            **{
                k: json.dumps(r["values"][k]) if isinstance(r["values"][k], (list, dict)) else r["values"][k]
                for k in the_plan.keys
            },
        }
        for metric, stat in r["summary"].items():
            row[f"{metric}_mean"], row[f"{metric}_sd"] = stat["mean"], stat["sd"]
        row |= {"runs": len(r["runs"]), "seconds": round(r["seconds"], 3), "group": r["group"], "worker": r["worker"]}
        rows.append(row)
    write_json_atomic(
        out / "results.json",
        {
            "base": the_plan.base_name,
            "metric": the_plan.metric,
            "trials": len(the_plan.trials),
            "finished": len(results),
            "results": ordered,
        },
    )
    write_whole(out / "results.csv", lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g"))


def best(the_plan: Plan, results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    key = _better(the_plan.metric)
    scored = [r for r in results.values() if the_plan.metric in r["summary"]]
    return min(scored, key=lambda r: key(r["summary"][the_plan.metric]["mean"])) if scored else None


def write_best(out: Path, the_plan: Plan, results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    import tomli_w

    top = best(the_plan, results)
    if top is None:
        return None
    raw = apply_values(the_plan.base, top["values"])
    raw["name"] = f"{raw.get('name', 'recipe')}-best"
    stat = top["summary"][the_plan.metric]
    header = (
        f"# The best of {len(results)} trials of `salarynet sweep` on {the_plan.base_name}: "
        f"{the_plan.metric} {stat['mean']:.4f} ± {stat['sd']:.4f}\n# over {len(top['runs'])} fold x seed runs; "
        f"swept values: {json.dumps(top['values'])}\n"
    )
    write_whole(out / "best.toml", header + tomli_w.dumps(raw))
    return top


def plot(out: Path, the_plan: Plan, results: dict[str, dict[str, Any]]) -> Path:
    """The metric against each swept value: every trial a dot (its sd a bar), the mean per value a line."""
    from ..plots import subplots

    keys = the_plan.keys
    fig, axes = subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False, sharey=True)
    for ax, key in zip(axes[0], keys):
        values = list(dict.fromkeys(json.dumps(t.values[key]) for t in the_plan.trials))
        means = {v: [] for v in values}
        for r in results.values():
            if the_plan.metric not in r["summary"]:
                continue
            v = json.dumps(r["values"][key])
            stat = r["summary"][the_plan.metric]
            x = values.index(v) + np.random.default_rng(int(r["trial"][:8], 16)).uniform(-0.08, 0.08)  # jitter
            ax.errorbar(x, stat["mean"], yerr=stat["sd"], fmt="o", color="#60a5fa", alpha=0.8, ms=4)
            means[v].append(stat["mean"])
        xs = [i for i, v in enumerate(values) if means[v]]
        ax.plot(xs, [np.mean(means[values[i]]) for i in xs], "-", color="#1d4ed8", lw=2)
        ax.set_xticks(range(len(values)), [v.strip('"') for v in values], rotation=30, ha="right")
        ax.set_xlim(-0.5, len(values) - 0.5)
        ax.set_xlabel(key)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{the_plan.metric} (mean over folds x seeds)")
    fig.suptitle(f"sweep of {the_plan.base_name}: {len(results)} trials")
    fig.tight_layout()
    path = out / "sweep.png"
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------- running it


@dataclass
class Outcome:
    results: dict[str, dict[str, Any]]
    ran: int  # trials trained by this call
    skipped: int  # finished before (--resume)
    seconds: float
    workers: int
    interrupted: bool = False
    damaged: list[Path] = field(default_factory=list)  # --resume: trial files that were not results; rerun


def _local_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=40,
    )


def sweep(
    survey: Survey,
    the_plan: Plan,
    out: Path,
    folds: int,
    seeds: int,
    scheduler: str | None = None,
    workers: int | None = None,
    batch: bool = True,
    resume: bool = False,
    serial: bool = False,
    on_trial: Callable[[dict[str, Any], int, int], None] | None = None,
) -> Outcome:
    """Run the plan's unfinished trials and write each as it finishes; then the tables, best.toml and the plot.
    serial: no Dask, the same tasks in this process (the reference the tests hold Dask to)."""
    check_out(out, resume)
    client, close = (None, lambda: None) if serial else connect(scheduler, workers)
    try:
        (out / "trials").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        close()
        raise DataError(f"{out}: cannot write the sweep here ({e.strerror or e}); choose another --out") from None
    results, damaged = finished(out, the_plan.trials) if resume else ({}, [])
    todo = groups([t for t in the_plan.trials if t.id not in results], batch)
    skipped = len(results)
    started = time.perf_counter()
    ran = 0

    def record(group_results: list[dict[str, Any]]) -> None:
        nonlocal ran
        for r in group_results:
            write_json_atomic(trial_path(out, r["trial"]), r)
            results[r["trial"]] = r
            ran += 1
            if on_trial:
                on_trial(r, len(results), len(the_plan.trials))
        write_tables(out, the_plan, results)

    interrupted = False
    try:
        if serial:
            for group in todo:
                record(run_group(survey, the_plan.base, group, folds, seeds, batch))
        elif todo:
            _run_dask(client, survey, the_plan, todo, folds, seeds, batch, record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        n_workers = len(client.scheduler_info()["workers"]) if client is not None and client.status == "running" else 1
        close()
    if results:
        write_tables(out, the_plan, results)
        write_best(out, the_plan, results)
        plot(out, the_plan, results)
    return Outcome(results, ran, skipped, time.perf_counter() - started, n_workers, interrupted, damaged)


SWEEP_FILES = {"trials", "results.csv", "results.json", "best.toml", "sweep.png"}


def check_out(out: Path, resume: bool) -> None:
    """A sweep writes into a new or empty folder, or continues (--resume) one that holds only a sweep's files."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; choose another --out")
    names = {p.name for p in out.iterdir()}
    if names - SWEEP_FILES:
        raise DataError(
            f"{out}: holds other files ({', '.join(sorted(names - SWEEP_FILES)[:3])}); a sweep writes "
            "only into a new or empty folder, or its own; choose another --out"
        )
    if names and not resume:
        raise DataError(f"{out}: holds the results of a sweep; --resume continues it, or choose another --out")


def connect(scheduler: str | None, workers: int | None):
    """(client, close): a client of the given scheduler, or of a new local cluster; one line if unreachable."""
    from distributed import Client

    if scheduler is not None:
        reachable(scheduler)
    cluster = None if scheduler else _local_cluster(workers or os.cpu_count() or 1)
    try:
        client = Client(scheduler or cluster, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        if cluster:
            cluster.close()
        raise DataError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None

    def close() -> None:
        client.close()
        if cluster:
            cluster.close()

    return client, close


def reachable(address: str) -> None:
    """Fail in one line at once on an address that is malformed or refuses connections (Dask retries until
    its timeout): tcp://HOST:PORT or HOST:PORT."""
    import socket

    from distributed.comm import parse_address, parse_host_port

    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as e:
        raise DataError(f"--scheduler {address!r}: not a scheduler address ({e}); expected tcp://HOST:PORT") from None
    if protocol != "tcp":
        return
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as e:
        raise DataError(
            f"cannot reach the Dask scheduler at {address} ({e.strerror or e}); is `dask scheduler` running there?"
        ) from None


def _run_dask(
    client,
    survey: Survey,
    the_plan: Plan,
    todo: list[list[Trial]],
    folds: int,
    seeds: int,
    batch: bool,
    record: Callable[[list[dict[str, Any]]], None],
) -> None:
    from distributed import as_completed

    data = client.scatter(survey, broadcast=True)  # once, not with every task
    futures = [client.submit(run_group, data, the_plan.base, group, folds, seeds, batch, pure=False) for group in todo]
    try:
        for future in as_completed(futures):
            record(future.result())
    finally:
        client.cancel(futures)
