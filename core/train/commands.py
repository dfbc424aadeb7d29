"""``python -m core`` commands of the train package: scoring a submission, training, cross-validation,
completing a cancelled run's predictions, and seeding the demo workspace with its demo jobs. The training
options come from :class:`core.train.config.TrainConfig`'s fields (``config_help``), so ``--help`` lists every
option with its default. See :mod:`core.common.commands` for the pattern."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.common.commands import add_command, add_home
from core.common.schema import SCHEMAS
from core.common.settings import Settings
from core.train.config import config_help
from core.train.crossval import DEFAULT_K, DEFAULT_SEED, MAX_K
from core.train.tapt import TaptConfig

_OPTIONS_HELP = "(in CONFIG or with --set key=value):\n"


def register(sub: Any) -> None:
    """Add ``score``, ``train``, ``tapt``, ``crossval``, ``predict``, ``seed``, ``backbones`` and ``sweep``."""
    p = add_command(
        sub, "score", _cmd_score, "score a submission CSV (id,pred_label,probs) with KLUE micro-F1 and AUPRC"
    )
    p.add_argument("pred", help="submission-format CSV")
    p.add_argument("--gold", required=True, help="labeled dataset file or an id,label CSV")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--schema", default="klue", choices=sorted(SCHEMAS))

    p = add_command(
        sub,
        "train",
        _cmd_train,
        "fine-tune a relation classifier on a workspace dataset and write a run folder",
        description="Fine-tune a relation classifier on a workspace dataset and write a run folder.",
        epilog="options " + _OPTIONS_HELP + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", default=None, help="YAML or JSON file of options (omit: all defaults)")
    p.add_argument("--run-dir", default=None, help="run folder (default: WORKSPACE/runs/<time>-<model>-<format>)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option (repeatable); VALUE is read as YAML",
    )
    p.add_argument("--check", action="store_true", help="validate and print the resolved config; do not train")

    p = add_command(
        sub,
        "tapt",
        _cmd_tapt,
        "task-adaptive pretraining: masked-LM on a dataset's sentences, written as a workspace backbone",
        description=(
            "Continue a backbone's pretraining (masked LM) on a dataset's train and test sentences, with the "
            "input format's entity markers added, and write it to WORKSPACE/backbones/<name> for fine-tuning "
            "(`train --set model=WORKSPACE/backbones/<name>`). Runs here; --submit queues it as a job."
        ),
        epilog="options " + _OPTIONS_HELP + config_help(TaptConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", default=None, help="YAML or JSON file of options (omit: all defaults)")
    p.add_argument("--dataset", default=None, help="workspace dataset (name or id)")
    p.add_argument("--model", default=None, help="backbone to continue: hub id, local folder or 'tiny'")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one option"
    )
    p.add_argument("--run-dir", default=None, help="run folder (default: WORKSPACE/runs/<time>-tapt)")
    p.add_argument("--check", action="store_true", help="validate and print the resolved config; do not run")
    p.add_argument("--submit", action="store_true", help="queue it as a background job and return")
    p.add_argument("--name", default=None, help="with --submit: the job's name")
    p.add_argument("--gpu", default=None, help="with --submit: auto (default), cpu, or a GPU index")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="with --submit")
    p.add_argument(
        "--ray-cluster",
        default=None,
        metavar="NAME",
        help="with --submit --backend ray: one of the clusters in restudio.toml's [ray.clusters]",
    )
    add_home(p)

    p = add_command(
        sub,
        "crossval",
        _cmd_crossval,
        "k-fold cross-validation: out-of-fold probabilities for every training row (for label issues)",
        description=(
            "Train k models, each without one stratified fold of the split's train rows, and stitch their "
            "out-of-fold probabilities into WORKSPACE/oof/<dataset id>/r<revision>-<group>.csv. By default the "
            "folds run here one after the other; --submit queues them as background jobs instead, and "
            "--stitch GROUP stitches a finished group."
        ),
        epilog="training options " + _OPTIONS_HELP + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", default=None, help="YAML or JSON training config (omit: defaults)")
    p.add_argument(
        "-k", "--folds", type=int, default=DEFAULT_K, help=f"number of folds, 2 to {MAX_K} (default {DEFAULT_K})"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"fold seed (default {DEFAULT_SEED})")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override one option"
    )
    p.add_argument("--out-dir", default=None, help="folder for the fold runs (default WORKSPACE/runs/<time>-cv)")
    p.add_argument("--no-dev", action="store_true", help="leave the dev rows out of the stitched file")
    p.add_argument("--submit", action="store_true", help="queue the folds as background jobs and return")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="with --submit")
    p.add_argument(
        "--ray-cluster",
        default=None,
        metavar="NAME",
        help="with --submit --backend ray: one of the clusters in restudio.toml's [ray.clusters]",
    )
    p.add_argument("--stitch", metavar="GROUP", default=None, help="stitch a finished group and exit")

    p = add_command(
        sub,
        "predict",
        _cmd_predict,
        "make the predictions a cancelled run left for later (`predict RUN_DIR`)",
        description="Make the prediction files a cancelled run left for later (summary.json's "
        "pending_predictions) from its saved checkpoint, and update its summary.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folder (WORKSPACE/runs/...)")

    p = add_command(sub, "seed", _cmd_seed, "make sure the workspace holds the demo dataset")
    add_home(p)
    _register_backbones(sub)
    _register_sweep(sub)


def _cmd_train(args: argparse.Namespace) -> int:
    # torch and transformers take seconds to import: only `train` pays for them.
    from core.train.training import cli_train

    return cli_train(args)


def _cmd_tapt(args: argparse.Namespace) -> int:
    from core.train.tapt import cli_tapt

    return cli_tapt(args)


def _cmd_crossval(args: argparse.Namespace) -> int:
    from core.train.crossval import cli_crossval

    return cli_crossval(args)


def _cmd_predict(args: argparse.Namespace) -> int:
    """:func:`core.train.predict.complete_predictions` for each run; the first that cannot be completed stops
    the command with its one-line message (exit 2)."""
    from core.train.predict import complete_predictions

    for run_dir in args.run_dirs:
        written = complete_predictions(run_dir, echo=True)
        print(f"{run_dir}: " + (f"wrote {', '.join(written)}" if written else "no predictions were pending"))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from core.train.metrics import score_files

    result = score_files(args.gold, args.pred, schema=SCHEMAS[args.schema])
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    print(f"micro-F1 (no_relation excluded): {result['micro_f1']:.3f}")
    print(f"AUPRC (mean over {len(result['per_class_f1'])} classes): {result['auprc']:.3f}")
    print(f"rows: {result['n']}")
    for label, f1 in sorted(result["per_class_f1"].items(), key=lambda kv: -kv[1]):
        print(f"  {f1:7.2f}  {label}")
    return 0


#: Presets the demo jobs use: three input formats, so the other views have models to compare at once.
DEMO_JOB_PRESETS = (
    "tiny demo (typed punct markers, entity start)",
    "tiny demo, entity markers",
    "tiny demo, baseline [CLS]",
)


def _cmd_seed(args: argparse.Namespace) -> int:
    from core import jobs
    from core.data.importing import seed_demo
    from core.store.workspace import Workspace

    workspace = Workspace(args.home)
    info = seed_demo(workspace)
    print(f"Workspace {workspace.root}: dataset #{info.id} {info.name!r} ready.")
    store = jobs.JobStore(workspace.root)
    if Settings.from_env().no_demo_jobs or store.list_jobs():
        return 0
    from core.train import training
    from core.train.config import PRESETS

    for preset in DEMO_JOB_PRESETS:
        config = training.validate({**PRESETS[preset], "dataset": info.name, "workspace": str(workspace.root)})
        # One after another on the CPU queue (RESTUDIO_MAX_CPU_JOBS), one per GPU on a GPU machine.
        job = store.create(name=preset, command=jobs.training_command(), kind="train", config=config.to_dict())
        print(f"Queued demo job #{job.id}: {preset}")
    # Start the first one now; each finishing job starts the next (the app's watcher would too).
    jobs.LocalBackend(store).reconcile()
    return 0


# -- backbones --------------------------------------------------------------------------------------------


def _register_backbones(sub: Any) -> None:
    """``backbones`` with its sub-commands ``list`` (the default) and ``tiny``."""
    from core.train.tiny_backbones import FAMILIES

    p = add_command(
        sub,
        "backbones",
        _cmd_backbones,
        "list the backbones a run can start from; `backbones tiny` builds a random one of a family",
        description="The backbones a training run can start from without downloading: the built-in tiny BERT, "
        "the workspace's backbone folders (tiny family builds, TAPT outputs) and the models of the local Hugging "
        "Face cache. The first column is what goes in a config's `model`; any other hub id works too where the "
        "hub is reachable. With no subcommand, list them.",
    )
    add_home(p)
    p.add_argument("--json", action="store_true", help="the list as one JSON array")
    p.add_argument("--no-cache", action="store_true", help="leave out the local Hugging Face cache")
    # --home after the subcommand too; SUPPRESS so an absent one does not undo the one given before it.
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=argparse.SUPPRESS, help="workspace folder")
    bsub = p.add_subparsers(dest="backbones_command", metavar="{list,tiny}")

    q = bsub.add_parser("list", parents=[home], help="list the backbones (the default)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON array")
    q.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS, help="leave out the HF cache")
    q.set_defaults(backbones_func=_cmd_backbones_list)

    q = bsub.add_parser(
        "tiny",
        parents=[home],
        help="build a small random checkpoint of a model family into WORKSPACE/backbones and print its folder",
        description="Build a small random checkpoint of a hub model family (the real classes, random weights, a "
        "tokenizer trained on the dataset's current train sentences) into WORKSPACE/backbones/<name>, replacing "
        "one of that name, and print its folder. It tries every code path of that family offline; its results "
        "say nothing about the real model's quality. Families: "
        + "; ".join(f"{name}: {what}" for name, what in FAMILIES.items()),
    )
    q.add_argument("--family", required=True, help=f"model family: {', '.join(FAMILIES)}")
    q.add_argument(
        "--dataset", required=True, help="workspace dataset (name or id) whose sentences the tokenizer learns"
    )
    q.add_argument("--name", default=None, help="backbone folder name (default: tiny-<family>-<dataset>)")
    q.add_argument("--vocab-size", type=int, default=4000, help="tokenizer vocabulary size (default 4000)")
    q.add_argument("--hidden", type=int, default=64, help="hidden size (default 64)")
    q.add_argument("--layers", type=int, default=2, help="transformer layers (default 2)")
    q.add_argument("--heads", type=int, default=2, help="attention heads; must divide --hidden (default 2)")
    q.add_argument("--seed", type=int, default=0, help="weight init seed (default 0)")
    q.set_defaults(backbones_func=_cmd_backbones_tiny)


def _cmd_backbones(args: argparse.Namespace) -> int:
    handler = getattr(args, "backbones_func", _cmd_backbones_list)
    return handler(args)


def _cmd_backbones_list(args: argparse.Namespace) -> int:
    from core.common.settings import resolve_home
    from core.train.catalog import catalog

    entries = catalog(resolve_home(args.home), include_cache=not args.no_cache)
    if args.json:
        records = [
            {
                "value": e.value,
                "label": e.label,
                "source": e.source,
                "family": e.family,
                "detail": e.detail,
                "size_bytes": e.size_bytes,
                "record": e.backbone.meta if e.backbone is not None else None,
            }
            for e in entries
        ]
        json.dump(records, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    header = ("value", "source", "family", "detail")
    rows = [(e.value, e.source, e.family or "", e.detail) for e in entries]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    for row in (header, *rows):
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]).rstrip())
    return 0


def _cmd_backbones_tiny(args: argparse.Namespace) -> int:
    from core.common.settings import resolve_home
    from core.train.catalog import build_tiny

    info = build_tiny(
        resolve_home(args.home),
        args.family,
        dataset=args.dataset,
        name=args.name,
        vocab_size=args.vocab_size,
        hidden=args.hidden,
        layers=args.layers,
        heads=args.heads,
        seed=args.seed,
    )
    print(info.path)
    return 0


# -- sweeps -----------------------------------------------------------------------------------------------

_SPACE_HELP = """search space (SPACE.yaml): a training option per line, with a range or a list of choices:
  lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # float range (any decimal bound), log scale
  epochs: {low: 2, high: 6}                     # whole-number bounds: an integer range
  warmup_ratio: {low: 0.0, high: 0.3, step: 0.1}
  scheduler: [linear, cosine]                   # choices
  batch_size: [16, 32, 64]
"""


def _register_sweep(sub: Any) -> None:
    from core.train.sweep import PRUNERS, SAMPLERS, SweepOptions

    p = add_command(
        sub,
        "sweep",
        _cmd_sweep,
        "hyperparameter sweep with Optuna: each trial a training job, the study kept in the workspace",
        description=(
            "Run an Optuna study over training options: each trial is a training job of the job system (local "
            "queue or Ray), pruned on its dev micro-F1 at each evaluation. The study lives in "
            "WORKSPACE/sweeps.sqlite: a sweep whose driver stopped (Ctrl-C, a restart) continues with --resume. "
            "Runs here until the sweep ends; --detach leaves it to a background driver job."
        ),
        epilog=_SPACE_HELP + "\nbase config " + _OPTIONS_HELP + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", default=None, help="base training config, YAML or JSON (omit: defaults)")
    p.add_argument("--space", default=None, metavar="SPACE.yaml", help="search space file (see below)")
    p.add_argument("--trials", type=int, default=SweepOptions.trials, help="trials to finish (default 12)")
    p.add_argument("--parallel", type=int, default=1, help="trials queued or running at once (default 1)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="where trials run")
    p.add_argument("--ray-cluster", default=None, metavar="NAME", help="with --backend ray: a configured cluster")
    p.add_argument("--gpu", default=None, help="trials' device: auto (default), cpu, or a GPU index")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS, help="Optuna sampler (default tpe)")
    p.add_argument("--pruner", default="median", choices=PRUNERS, help="Optuna pruner (default median)")
    p.add_argument(
        "--startup-trials", type=int, default=SweepOptions.startup_trials, help="finished trials before pruning"
    )
    p.add_argument(
        "--warmup-evals",
        type=int,
        default=SweepOptions.warmup_evals,
        help="evaluations every trial gets before it may be pruned (default 1)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--no-base-trial", action="store_true", help="do not try the base config's values first")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a base option"
    )
    p.add_argument("--name", default=None, help="the sweep's name (default sweep-<time>-<hex>)")
    p.add_argument("--resume", metavar="NAME", default=None, help="continue a paused sweep here")
    p.add_argument("--status", metavar="NAME", default=None, help="print a sweep's trials and exit")
    p.add_argument("--list", action="store_true", help="list the workspace's sweeps and exit")
    p.add_argument("--stop", metavar="NAME", default=None, help="stop a sweep (its running trials are cancelled)")
    p.add_argument("--train-best", metavar="NAME", default=None, help="queue a normal run of a sweep's best config")
    p.add_argument("--detach", action="store_true", help="start a background driver job and return")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object (trials best first)")
    add_home(p)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from core.train.sweep import cli_sweep

    return cli_sweep(args)
