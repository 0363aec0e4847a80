"""``npae reproduce``: run the paper's experiments, share what they can share, write the report.

The run, in order:

1. load the data sets the chosen experiments need; when the full data cannot be found or downloaded,
   fall back to the embedded sample and say so loudly (terminal and report);
2. train the paper's reference FFAs 784-q-784 on MNIST once, for every q that the chosen experiments
   use, and hand them over (experiment 1's q = 64 model is experiment 4's anomaly model; experiments
   2, 6 and 7 reuse the others);
3. run each experiment (``npae.experiments``), timing it; one that fails is reported, not fatal;
4. write ``report.md`` and the figures (``npae.report.sections``), with the machine, the versions
   and the time each part took, and ``report.html``: the same Markdown rendered as one self-contained
   page (``npae.report.html``).

The console follows Keras' convention (``npae.progress``): one line per model trained and one per
experiment, a transient status line on a terminal; ``quiet`` prints only what went wrong (a part that
failed, and why the full data could not be had).  The report is written even when a part failed; the
exit status is then 1.
"""
import inspect
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import datetime

from ..experiments import EXPERIMENTS, load
from .._files import atomic_open
from ..progress import Progress, counted, format_seconds
from . import html, sections
from .claims import VERDICTS, judge_on_sample
from .machine import LoadWatch, load_average, machine_rows, slowed_by_load, usable_cores
from .markdown import notice, seconds, table, verdict

DATASET_FILES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
TITLE = "npae reproduce: An Introduction to Autoencoders on this machine"
STAGING_PREFIX = ".npae-staging."  # the report's folder while it is drawn, inside --out (same file system)


class Part:
    """One timed part of the run: its name, seconds, a note, and the error that stopped it (if any)."""

    def __init__(self, name, note=""):
        self.name, self.note, self.error, self.details = name, note, None, None
        self.seconds = 0.0


def _images_text(data_set):
    """``"60,000 training + 10,000 test images"`` for ``((x_train, y_train), (x_test, y_test))``."""
    (_, train_labels), (_, test_labels) = data_set
    return f"{len(train_labels):,} training + {len(test_labels):,} test images"


def _load_data(names, *, data_dir, download, sample, progress):
    """``(data, sources, used_sample)``: ``data[name]`` as load_mnist returns it for each data set needed.

    Why a data set fell back to the sample (not found, download failed) is printed even when quiet.
    """
    from .. import datasets

    data, sources, used_sample = {}, {}, []
    for name in names:
        if sample:
            data[name] = datasets.load_dataset(DATASET_FILES[name], sample=True)
            reason = "requested with --sample"
        else:
            found = datasets.find_or_sample(DATASET_FILES[name], data_dir, download=download)
            data[name] = found.data
            if not found.used_sample:
                # found.message: "<name>: <counts> images from <place>, verified"
                sources[name] = f"{_images_text(data[name])} from {found.message.split(' images from ', 1)[-1]}"
                continue
            reason = "the full data set was not found"
            if progress.quiet:  # what went wrong is not progress: --quiet does not hide it
                print(found.message, file=sys.stderr, flush=True)
            else:
                progress.line(found.message)
        used_sample.append(name)
        sources[name] = f"{_images_text(data[name])} from the embedded sample ({reason})"
    return data, sources, used_sample


def _accepted(run, **options):
    """The options that ``run`` accepts.  A shared model is an optimisation, never a requirement: an
    experiment that does not take ``models`` (or ``progress``) simply trains its own, silently."""
    parameters = inspect.signature(run).parameters
    return {key: value for key, value in options.items() if key in parameters}


def _experiment_options(name, models, progress):
    """What the runner hands to experiment ``name`` besides data, quick and seed."""
    wanted = EXPERIMENTS[name].reference_models
    options = {"progress": progress}
    if wanted:
        # For the anomaly ensemble, the q = 64 model is its first member (same seed, same set-up).
        options["models"] = {q: models[q] for q in wanted if q in models}
    return options


def _quick_notes():
    from ..experiments import _common, dimensionality, knn, reconstruction

    return [f"every model trains for {_common.QUICK_EPOCHS} epochs instead of the paper's {_common.EPOCHS};",
            f"kNN scores the first {knn.QUICK_TEST_SIZE:,} test images only (experiment 2), the misread-digit "
            f"measure reads {reconstruction.N_CHECKED[True]} reconstructions (experiment 1);",
            f"the simulation of table 3 draws {dimensionality.TRIALS[True]} times instead of "
            f"{dimensionality.TRIALS[False]}; the anomaly ensemble has 2 models instead of 5.",
            "The numbers show the method works; they are not the paper's. Run `npae reproduce` without "
            "`--quick` for the paper's set-up (a few minutes)."]


def _sample_notes(used_sample, data):
    sizes = ", ".join(f"{DATASET_TITLES[name]}: {len(data[name][0][1]):,} training + {len(data[name][1][1]):,} "
                      "test images" for name in used_sample)
    return [f"This run used the small sample embedded in npae ({sizes}) instead of the full data set"
            f"{'s' if len(used_sample) > 1 else ''}.",
            "Its numbers are NOT comparable to the paper's (less training data, fewer test images): a claim "
            "that only the full data can judge (against the paper's or PyTorch's numbers, or a gap, speed-up or "
            "rank that grows with the number of images) says *not shown: sample*; a claim that compares two "
            "things measured in this run keeps its verdict.",
            "To run on the full data: `NPAE_DATA=<folder holding mnist/ and fashion-mnist/> npae reproduce`, "
            "or `npae data fetch` on a machine with internet access; `npae data info` shows what was searched."]


def reproduce(out_dir="npae-report", *, quick=False, only=None, seed=0, progress=None, data_dir=None,
              download=True, sample=False, command="npae reproduce", full_convolutional=False):
    """Run the experiments named in ``only`` (default all, in the paper's order) and write
    ``<out_dir>/report.md`` and ``<out_dir>/figures/*.png``.  Returns the exit status: 0 when every part
    ran and the report was written, 1 otherwise.  See the module docstring for the steps.
    ``full_convolutional``: section 4's convolutional models get the notebook's full set-up (about an
    hour) instead of the reduced one (see npae.experiments.convolutional)."""
    progress = progress if progress is not None else Progress()
    names = [name for name in EXPERIMENTS if only is None or name in only]
    unknown = sorted(set(only or ()) - set(EXPERIMENTS))
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; expected names from {', '.join(EXPERIMENTS)}")
    os.makedirs(out_dir, exist_ok=True)
    started, started_at, load_at_start = time.perf_counter(), datetime.now(), load_average()
    watch = LoadWatch().start()   # was the run slowed by other programs? (the report and the console say)
    progress.line(f"npae reproduce ({'QUICK run' if quick else 'full run'}): {', '.join(names)} -> "
                  f"{os.path.join(out_dir, 'report.md')} and report.html")
    if load_at_start is not None and load_at_start > usable_cores() + 1:
        progress.line(f"NOTICE: the machine is busy (load average {load_at_start:.1f} on {usable_cores()} cores): this "
                      "run will take longer than on a quiet machine; the report will say how much, and what to do.")
    parts = []

    # No data, no experiments: a damaged file (CorruptFileError) is raised to the caller, not recorded.
    part = Part("data")
    needed = [name for name in DATASET_FILES if any(name in EXPERIMENTS[e].datasets for e in names)]
    try:
        data, sources, used_sample = _load_data(needed, data_dir=data_dir, download=download, sample=sample,
                                                progress=progress)
    except BaseException:
        watch.stop()
        raise
    part.seconds = time.perf_counter() - started
    part.note = "; ".join(f"{DATASET_TITLES[name]}: {source}" for name, source in sources.items())
    parts.append(part)
    if used_sample:
        titles = " and ".join(DATASET_TITLES[name] for name in used_sample)
        progress.line(f"NOTICE: running on the EMBEDDED SAMPLE of {titles}: the numbers will not be the paper's "
                      "(see the top of the report).")

    models = {}
    shared = sorted({q for name in names for q in EXPERIMENTS[name].reference_models})
    if shared:
        part = Part("reference models", "FFA 784-q-784 for q = " + ", ".join(map(str, shared))
                    + ", shared by " + ", ".join(n for n in names if EXPERIMENTS[n].reference_models))
        with _timed(part, parts):
            from ..experiments.reconstruction import train_reference_model

            (x_train, _), (x_test, _) = data["mnist"]
            for q in shared:
                models[q] = train_reference_model(
                    x_train, q, quick=quick, seed=seed, validation_data=x_test, progress=progress,
                    label=f"reference FFA 784-{q}-784")

    results = {}
    for index, name in enumerate(names, start=1):
        experiment = EXPERIMENTS[name]
        part = Part(name, f"experiment {experiment.number}: {experiment.title}")
        # A status, not a line: in a log, the models trained and the line below say all there is.
        progress.update(f"[{index}/{len(names)}] experiment {experiment.number}, {experiment.title}...", final=True)
        with _timed(part, parts):
            module = load(name)
            run_options = dict(data={key: data[key] for key in experiment.datasets}, quick=quick, seed=seed,
                               **_experiment_options(name, models, progress))
            if name == "convolutional":
                run_options["full"] = full_convolutional
            run_options["fashion_models"] = results.get("knn", {}).get("models")  # experiment 2's, reused by 7
            results[name] = module.run(**_accepted(module.run, **run_options))
            part.details = results[name].get("seconds")
        if not part.error:
            progress.line(f"[{index}/{len(names)}] experiment {experiment.number}, {experiment.title}: "
                          f"done in {format_seconds(part.seconds)}")

    part = Part("report", "figures, report.md and report.html")
    checks, figure_count = [], 0
    slowed = slowed_by_load(watch.summary(), os.environ.get("OPENBLAS_NUM_THREADS"))
    with _timed(part, parts):
        checks, figure_count = _write_report(
            out_dir, names=names, results=results, models=models, parts=parts, quick=quick, seed=seed,
            sources=sources, used_sample=used_sample, data=data, command=command, started_at=started_at,
            load_at_start=load_at_start, slowed=slowed, total_seconds=lambda: time.perf_counter() - started)
    failed = [part for part in parts if part.error]
    report_path = os.path.join(out_dir, "report.md")
    progress.line(f"report: {report_path} and report.html ({counted(figure_count, 'figure')}), "
                  f"{format_seconds(time.perf_counter() - started)}"
                  + (f"; {counted(len(failed), 'part')} FAILED: " + ", ".join(p.name for p in failed)
                     if failed else ""))
    for check in checks:
        progress.line(f"  [{VERDICTS[check.holds]}] {check.claim}: {check.ours}")
    for index, text in enumerate(slowed or []):   # last, where it is seen: why the run took so long
        progress.line(("NOTICE: SLOWED BY OTHER PROGRAMS. " if index == 0 else "  ") + text)
    return 1 if failed else 0


class _timed:
    """Context manager: time ``part``, append it to ``parts``, and record an exception instead of raising
    it (one line on stderr, whatever --quiet says; the traceback goes into the report)."""

    def __init__(self, part, parts):
        self.part, self.parts = part, parts

    def __enter__(self):
        self.started = time.perf_counter()
        return self.part

    def __exit__(self, kind, error, trace):
        self.part.seconds = time.perf_counter() - self.started
        self.parts.append(self.part)
        if error is None or not isinstance(error, Exception):
            return False  # KeyboardInterrupt and SystemExit go through
        self.part.error = (f"{kind.__name__}: {error}".splitlines()[0], "".join(traceback.format_exception(error)))
        print(f"npae reproduce: {self.part.name} FAILED: {self.part.error[0]} (traceback in the report)",
              file=sys.stderr, flush=True)
        return True


def _failure_section(name, part):
    experiment = EXPERIMENTS[name]
    lines = [f"## {experiment.number}. {experiment.title} (paper {experiment.paper})", ""]
    if part.error and "No module named 'npae.experiments." in part.error[0]:
        lines.append(f"**Not available**: this version of npae has no `npae/experiments/{name}.py`.")
    else:
        lines += [f"**This part FAILED** ({part.error[0]}); the other parts are unaffected.", "", "```",
                  part.error[1].rstrip(), "```"]
    return "\n".join(lines)


def _bce_floors(data):
    """{data set: the BCE of a perfect reconstruction of its test images}, their own mean pixel entropy."""
    from ..experiments.reconstruction import bce_per_pixel

    return {name: bce_per_pixel(x_test, x_test) for name, (_, (x_test, _)) in data.items()}


def _write_report(out_dir, **report):
    """Write the figures, report.md and report.html into a staging folder inside ``out_dir``, then move them
    into place together (:func:`_publish`): a run interrupted while it draws leaves the previous report
    and the figures it shows as they were, never an old report beside new figures.  Returns what
    :func:`_compose_report` does."""
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir)
    try:
        checks, figures, documents = _compose_report(staging, **report)
        for name, content in documents.items():
            with atomic_open(os.path.join(staging, name)) as stream:  # fsync'd before the rename below
                stream.write(content.encode("utf-8"))
        _publish(staging, out_dir, [os.path.basename(path) for path in figures.written], list(documents))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return checks, len(figures.written)


def _publish(staging, out_dir, figure_names, document_names):
    """Move the staged figures, then the documents, from ``staging`` into ``out_dir`` (renames within one
    file system: each atomic), with SIGINT and SIGTERM held back meanwhile, so that an interruption
    comes after the last rename, never between two.  (A power cut between them is not covered.)"""
    held = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, held) if hasattr(signal, "pthread_sigmask") else None
    try:
        os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
        for name in figure_names:
            os.replace(os.path.join(staging, "figures", name), os.path.join(out_dir, "figures", name))
        for name in document_names:
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _compose_report(out_dir, *, names, results, models, parts, quick, seed, sources, used_sample, data, command,
                    started_at, load_at_start, total_seconds, slowed=None):
    """Draw the figures into ``out_dir``/figures and compose the documents: ``(checks, FigureFolder,
    {"report.md": text, "report.html": page})``."""
    figures = sections.FigureFolder(out_dir)
    by_name = {part.name: part for part in parts}
    bodies, checks = [], []
    for name in names:
        experiment = EXPERIMENTS[name]
        if name not in results:
            bodies.append(_failure_section(name, by_name[name]))
            continue
        try:
            section = getattr(sections, name)(results[name], figures)
        except Exception as error:  # a result in an unexpected shape: say so, keep the rest of the report
            part = by_name[name]
            part.error = (f"writing its report section: {type(error).__name__}: {error}",
                          "".join(traceback.format_exception(error)))
            bodies.append(_failure_section(name, part))
            continue
        bodies.append(section.markdown)
        section_checks = section.checks
        if any(dataset in used_sample for dataset in experiment.datasets):
            section_checks = judge_on_sample(section_checks)   # the one sample rule (npae.report.claims)
        checks += [check._replace(claim=f"{experiment.number}. {check.claim}") for check in section_checks]
    curves = sections.training_curves(results, figures, models=models, bce_floors=_bce_floors(data),
                                      compare_pytorch="mnist" in data and "mnist" not in used_sample)
    if curves:
        bodies.append(curves)

    header = ["# npae reproduce: *An Introduction to Autoencoders* on this machine", ""]
    if used_sample:
        header += [notice("EMBEDDED SAMPLE, NOT THE FULL DATA", _sample_notes(used_sample, data)), ""]
    if quick:
        header += [notice("QUICK RUN: REDUCED WORK", _quick_notes()), ""]
    if slowed:
        header += [notice("SLOWED BY OTHER PROGRAMS: TIMES LONGER THAN ON A QUIET MACHINE", slowed), ""]
    failed = [part for part in parts if part.error]
    if failed:
        header += [notice("SOME PARTS FAILED", [f"{part.name}: {part.error[0]}" for part in failed]), ""]
    header += [
        "Every table and figure of U. Michelucci, *An Introduction to Autoencoders* (arXiv 2201.03898), computed "
        "by npae's own code, with the paper's numbers beside ours.  The paper's numbers come from Keras and "
        "scikit-learn on Google Colab: ours differ in the details, the conclusions are what to compare.",
        "",
        f"Command `{command}`, seed {seed}, started {started_at:%Y-%m-%d %H:%M:%S}.",
        "",
        "Data: " + ("; ".join(f"{DATASET_TITLES[name]}: {source}" for name, source in sources.items())
                    or "none needed") + ".",
        "",
        "## The paper's conclusions, checked",
        "",
        table(["claim", "paper", "this run", "holds"], [[c.claim, c.paper, c.ours, verdict(c.holds)] for c in checks],
              align="lllc")
        if checks else "No experiment produced a result to check.",
    ]
    timing_rows = [[part.name, seconds(part.seconds), ("FAILED: " + part.error[0]) if part.error else part.note
                    + _details(part.details)] for part in parts]
    load_at_end = load_average()
    footer = [
        "## Machine, versions and timings",
        "",
        table(["", ""], machine_rows(), align="ll"),
        "",
        table(["part", "seconds", "what"],
              timing_rows + [["total (before writing this file)", seconds(total_seconds()), ""]], align="lrl"),
        "",
        "Load average (1 min) at the start: " + (f"{load_at_start:.2f}" if load_at_start is not None else "?")
        + ", at the end: " + (f"{load_at_end:.2f}" if load_at_end is not None else "?")
        + f" on {os.cpu_count()} cores: a load above the core count means other programs shared the machine "
        "and the timings above are slower than they would be alone.",
    ]
    text = "\n\n".join(["\n".join(header)] + bodies + ["\n".join(footer)]) + "\n"
    page = html.page(text, TITLE, images=html.embed_images(out_dir))
    return checks, figures, {"report.md": text, "report.html": page}


def _details(details):
    """`` (training 12.3 s, kNN 4.5 s)`` from an experiment's ``seconds`` dict."""
    if not isinstance(details, dict) or not details:
        return ""
    return " (" + ", ".join(f"{key} {seconds(value)}" for key, value in details.items()
                            if isinstance(value, (int, float))) + ")"
