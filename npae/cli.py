"""The ``npae`` command line: the paper end to end, and autoencoders for your own data.

    npae reproduce [--quick] [--out DIR] [--only NAME ...]   every experiment of the paper, with a report
                   [--full-convolutional]                 (section 4 with the notebook's full set-up)
    npae data info | fetch | export                           where MNIST / Fashion-MNIST are, get them, write them out
    npae train DATA -o MODEL.npz                              train an autoencoder on your data
    npae encode -m MODEL.npz DATA -o CODES.npy                latent features (or reconstructions)
    npae knn TRAIN TEST --train-labels LABELS                 k-nearest-neighbour classification
    npae anomaly -m MODEL.npz DATA                            reconstruction errors, the oddest rows first
    npae compress -m MODEL.npz DATA -o CODES.npac             codes quantised and arithmetic-coded
    npae decompress -m MODEL.npz CODES.npac -o OUT.npy        rows back from such a file

Data files: ``.npy``, ``.npz`` (``FILE.npz:KEY`` picks an array) or ``.csv`` (numbers separated by
commas, an optional line of column names), one observation per row; images of any shape are flattened.
Results are written as ``.npy`` or ``.csv``, chosen by the extension of ``-o``.  How the files are read
and written, and what is refused, is in :mod:`npae.userfiles`.

A mistake in the input (a missing or damaged file, the wrong number of columns, an output that cannot
be written, a model too large for the memory...) gives one line on stderr and exit status 1, before any
long work starts; a wrong option gives argparse's usage message and status 2.  No command writes over
one of its own input files.
"""
import argparse
import math
import os
import signal
import sys
import textwrap
import threading
import time

import numpy as np

from . import __version__
from ._memory import available_bytes, format_bytes
from .userfiles import (
    as_rows,
    check_not_input,
    check_output,
    check_writable_folder,
    looks_like_8bit_pixels,
    read_array,
    read_labels,
    scale_rows,
    write_array,
)

# Exit statuses (128 + the signal's number for an interruption, as a shell reports a process it killed).
OK, FAILED, USAGE, INTERRUPTED, TERMINATED = 0, 1, 2, 130, 143

SCALES = ("auto", "none", "255")
RESULT_EXTENSIONS = (".npy", ".csv")


# ------------------------------------------------------------------------------------------------
# The user's files, as the commands use them

def load_rows(spec, scale, notes, what="data"):
    """``(float32 rows, divided_by_255, note on the scale)`` of data file ``spec``, ``--scale`` applied;
    what the reader decided on the user's behalf (a line of column names...) is appended to ``notes``."""
    rows = as_rows(read_array(spec, what, notes), f"{what} file {spec!r}")
    return scale_rows(rows, scale)


def _count(number, noun):
    """``"1 epoch"``, ``"30 epochs"``, ``"60,000 rows"``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _model_sizes(model):
    """``[input features, code size]`` of a saved model: the command line works on rows of numbers, so the
    model must take flat rows (an FFA, or any autoencoder whose input and code are 1-D)."""
    shape = model.input_shape
    if shape is None or len(shape) != 1:
        raise ValueError(f"the model takes inputs of shape {shape}; the command line works on rows of numbers "
                         "(use the Python API for image-shaped models)")
    return [shape[0], getattr(model, "latent_size", None) or shape[0]]


def _load_model(path):
    """``npae.load(path)``, with every way a foreign or damaged file can fail turned into one ValueError."""
    from .io import load

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"model file {path!r} is a folder; expected a .npz file saved by npae train")
    if not os.path.isfile(path):
        raise ValueError(f"model file {path!r} does not exist")
    with open(path, "rb") as stream:
        if stream.read(4) != b"PK\x03\x04":  # every .npz is a zip file
            raise ValueError(f"model file {path!r} is not an npae model (a model is the .npz file that "
                             "npae train or Autoencoder.save writes)")
    try:
        return load(path)
    except MemoryError:
        raise
    except ValueError as error:
        raise ValueError(str(error) if path in str(error) else f"model file {path!r}: {error}") from None
    except Exception as error:  # a .npy given as a model, zlib's errors, a crafted header's TypeError...
        raise ValueError(f"model file {path!r} is not a readable npae model ({type(error).__name__}: {error})") \
            from None


def _load_autoencoder(path):
    """``_load_model(path)``, refused unless it is an autoencoder (it has an encoder): a ``Sequential``
    saved with ``Sequential.save`` loads, but has no latent features to give."""
    model = _load_model(path)
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"model file {os.fspath(path)!r} holds an npae.{type(model).__name__}, not an autoencoder: "
                         "this command needs a model with an encoder (one saved by npae train or "
                         "Autoencoder.save)")
    return model


def _check_features(rows, model, data_name, model_name):
    expected = _model_sizes(model)[0]
    if rows.shape[1] != expected:
        raise ValueError(f"{data_name} has {rows.shape[1]:,} features per row, but the model {model_name} "
                         f"expects {expected:,}")


def _architecture(sizes):
    return "-".join(map(str, sizes + sizes[-2::-1]))


def training_memory(sizes, batch_rows):
    """``(parameters, bytes)``: the parameter count of the autoencoder ``sizes`` (mirrored) and an estimate
    of the memory that training it takes in float32, beyond the data already loaded.

    Per parameter, 28 bytes: the weight, its gradient, Adam's two moments (16), and the copy of the
    weight and both moments that ``fit`` keeps at the start of each epoch to undo a diverged one (12).
    Per value of a layer's output, for a batch of ``batch_rows``: its pre-activation, activation and the
    gradient flowing back (12 bytes) in training, plus 8 for the forward-only buffers of the evaluation
    in batches (validation, and the loss of the last epoch); and the batch's gathered inputs and
    targets (8 bytes a feature).  Measured: ``npae train`` of 784-4000-64 on 3,000 rows peaked 285 MiB
    above the interpreter with npae imported, against an estimate of 230 MiB (the rest: Numba compiling
    its kernels, the allocator's slack); the loaded data is already counted as used.
    """
    widths = sizes + sizes[-2::-1]
    parameters = sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:]))
    per_batch = batch_rows * (4 * 3 * sum(widths) + 4 * 2 * sum(widths) + 4 * 2 * widths[0])
    return parameters, 28 * parameters + per_batch


def check_training_fits(sizes, batch_rows):
    """Refuse, before anything is allocated, an autoencoder ``sizes`` that cannot be trained in memory."""
    parameters, needed = training_memory(sizes, batch_rows)
    available = available_bytes()
    if available is not None and needed > available:
        raise ValueError(f"the model {_architecture(sizes)} has {parameters:,} parameters and needs about "
                         f"{format_bytes(needed)} to train (float32 weights, gradients, Adam's two moments and "
                         f"their per-epoch copy, plus a batch's activations), but {format_bytes(available)} of memory is available; "
                         "choose smaller --hidden or --latent sizes (or a smaller --batch-size)")


class _Printer:
    """Result lines on stdout, unless --quiet."""

    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, text):
        if not self.quiet:
            print(text, flush=True)


class _StatusOnly:
    """The running status of a long loop, shown on a terminal only, without the closing summary line:
    the command prints its result itself, once, on stdout (a summary on stderr too would say it twice,
    and out of order once stdout is buffered by a pipe)."""

    def __init__(self, progress):
        self.progress = progress
        self.quiet = progress.quiet or not progress.tty

    def update(self, text, *, final=False):
        if not self.quiet:
            self.progress.update(text, final=final)

    def finish(self, text):
        if not self.quiet:  # blank the status line and return to its start: the result is printed there
            self.progress.update("", final=True)
            self.progress.stream.write("\r")
            self.progress.stream.flush()


# ------------------------------------------------------------------------------------------------
# Commands

def _make_output_folder(folder, option):
    """Create ``folder`` if needed and check that files can be written in it, before the work."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{option} {folder!r} exists and is not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{option} {folder!r}: cannot create the folder ({error.strerror or error})") from None
    check_writable_folder(folder, f"{option} {folder!r}")


def _check_report_folder(out):
    """``npae reproduce --out``: the folder must be creatable and writable before an hour of work, not after."""
    _make_output_folder(out, "--out")
    for name in ("figures", "report.md"):
        inside = os.path.join(out, name)
        if name == "figures" and os.path.isdir(inside):
            check_writable_folder(inside, f"--out {out!r}")
        elif name == "report.md" and os.path.isdir(inside):
            raise ValueError(f"--out {out!r}: {inside!r} is a folder, so the report cannot be written")


def command_reproduce(args):
    from .progress import Progress
    from .report import reproduce

    _check_report_folder(args.out)
    command = "npae reproduce" + "".join(f" {part}" for part in (args.argv or []))
    return reproduce(args.out, quick=args.quick, only=args.only, seed=args.seed,
                     progress=Progress(quiet=args.quiet), data_dir=args.data_dir, download=not args.offline,
                     sample=args.sample, command=command, full_convolutional=args.full_convolutional)


def _data_export(args):
    from .datasets.export import export

    _make_output_folder(args.output, "-o")
    paths, found = export(args.name, args.output, args.format, force=args.force, data_dir=args.data_dir,
                          download=not args.offline, sample=args.sample)
    if found.used_sample and not args.sample:
        print(found.message, file=sys.stderr, flush=True)
    for (split, kind), path in paths.items():
        array = found.data[("train", "test").index(split)][0 if kind == "images" else 1]
        shape = " x ".join(f"{size:,}" for size in array.shape)
        content = "pixels 0..255, one image per row" if kind == "images" else "class numbers 0..9"
        print(f"wrote {path}: {shape} {content}")
    print(f"next, for example:  npae train {paths['train', 'images']} -o model.npz")
    return OK


def command_data(args):
    from .datasets.commands import data_fetch, data_info

    if args.action == "info":
        return data_info(sys.stdout, data_dir=args.data_dir)
    if args.action == "export":
        return _data_export(args)
    return data_fetch(args.data_dir, names=tuple(args.names or ("mnist", "fashion-mnist")), stream=sys.stdout)


def _parse_hidden(text):
    if not text:
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--hidden {text!r}: expected layer sizes separated by commas, e.g. 256,64") from None
    if any(size < 1 for size in sizes):
        raise ValueError(f"--hidden {text!r}: layer sizes must be positive")
    return sizes


def _one_feature_message(path, x):  # x: the rows read, (N, 1)
    """Why ``npae train`` refuses one value per row, and which file was probably meant."""
    message = (f"{path} holds one value per row ({_count(x.shape[0], 'row')}; class labels?): an autoencoder "
               "learns to compress rows of several features, and a 1-1-1 model of one number learns nothing")
    folder, name = os.path.split(path)
    images = os.path.join(folder, name.replace("labels", "images"))
    if "labels" in name and os.path.exists(images):
        message += f": train on the images instead, npae train {images}"
    return message


def command_train(args):
    from .model import Autoencoder
    from .progress import Progress, fit_with_progress

    say = _Printer(args.quiet)
    check_output(args.output, (".npz",), "-o")
    check_not_input(args.output, [args.input])
    hidden = _parse_hidden(args.hidden)
    notes = []
    x, _, note = load_rows(args.input, args.scale, notes)
    note = "; ".join([note, *notes])
    n_features = x.shape[1]
    if n_features == 1:
        raise ValueError(_one_feature_message(args.input, x))
    latent = args.latent if args.latent is not None else (64 if n_features >= 128 else max(1, n_features // 2))
    sizes = [n_features, *hidden, latent]
    check_training_fits(sizes, min(args.batch_size, x.shape[0]))
    in_unit_interval = bool(x.min() >= 0 and x.max() <= 1)
    loss = args.loss if args.loss != "auto" else ("bce" if in_unit_interval else "mse")
    if loss == "bce" and not in_unit_interval:
        raise ValueError(f"--loss bce needs values in [0, 1], but {args.input} holds values in "
                         f"[{x.min():g}, {x.max():g}]; rescale them (--scale 255 for 8-bit pixels) or use --loss mse")
    output_activation = "sigmoid" if loss == "bce" else "identity"
    model = Autoencoder(sizes, activation=args.activation, output_activation=output_activation, loss=loss,
                        noise=args.noise, seed=args.seed)
    say(f"training {_architecture(sizes)} ({args.activation}, {output_activation} output, {loss.upper()}) on "
        f"{_count(x.shape[0], 'row')} of {args.input} ({note}), {_count(args.epochs, 'epoch')}")
    started = time.perf_counter()
    history = fit_with_progress(model, x, epochs=args.epochs, batch_size=args.batch_size,
                                validation_split=args.validation_split, progress=Progress(quiet=args.quiet),
                                label="train")
    model.save(args.output)
    logs = history.history
    final = f"loss {logs['loss'][-1]:.5f}" + (f", val_loss {logs['val_loss'][-1]:.5f}" if logs.get("val_loss") else "")
    say(f"saved {args.output} ({final}, {time.perf_counter() - started:.1f} s)")
    return OK


def command_encode(args):
    say = _Printer(args.quiet)
    check_output(args.output, RESULT_EXTENSIONS, "-o")
    check_not_input(args.output, [args.input, args.model])
    model = _load_autoencoder(args.model)
    notes = []
    x, divided, note = load_rows(args.input, args.scale, notes)
    note = "; ".join([note, *notes])
    _check_features(x, model, args.input, args.model)
    sizes = _model_sizes(model)
    if args.reconstruct:
        result, header = model.reconstruct(x), ",".join(f"x{j}" for j in range(sizes[0]))
        if divided and args.scale_back:
            result *= np.float32(255)
            what = "reconstructions, multiplied by 255: on the input's scale 0..255"
        elif divided:
            what = ("reconstructions in [0, 1], the model's scale, not the input's 0..255 (--scale-back "
                    "multiplies them by 255)")
        else:
            what = "reconstructions"
    else:
        result, header = model.encode(x), ",".join(f"h{j}" for j in range(sizes[-1]))
        what = "latent features"
        if result.ndim > 2:  # a convolutional encoder's code: an image of features per row
            code = " x ".join(f"{size:,}" for size in result.shape[1:])
            if args.output.lower().endswith(".csv"):  # a CSV row holds one code: flattened, in C order
                result = result.reshape(result.shape[0], -1)
                what += f" (each code {code}, flattened in C order)"
            else:
                what += f" (each code {code})"
    write_array(args.output, result, header)
    say(f"wrote {args.output}: {' x '.join(f'{size:,}' for size in result.shape)} {what} (input: {note})")
    return OK


def command_compress(args):
    from .compress_cli import EXTENSION, compress_rows, write_compressed

    say = _Printer(args.quiet)
    check_output(args.output, (EXTENSION,), "-o")
    check_not_input(args.output, [args.input, args.model])
    model = _load_model(args.model)
    notes = []
    x, _, note = load_rows(args.input, args.scale, notes)
    _check_features(x, model, args.input, args.model)
    encoded = compress_rows(model, x, args.bits)
    sizes = write_compressed(args.output, encoded)
    total = sum(sizes.values())
    say(f"wrote {args.output}: {x.shape[0]:,} rows in {total:,} bytes ({total / x.shape[0]:.1f} per row; the "
        f"arithmetic-coded stream {sizes['stream']:,}, probability tables {sizes['model']:,}, quantiser "
        f"{sizes['quantiser']:,}, header {sizes['header']}), {args.bits}-bit codes (input: "
        f"{'; '.join([note, *notes])})")
    return OK


def command_decompress(args):
    from .compress_cli import decompress_codes, read_compressed

    say = _Printer(args.quiet)
    check_output(args.output, RESULT_EXTENSIONS, "-o")
    check_not_input(args.output, [args.input, args.model])
    model = _load_model(args.model)
    encoded = read_compressed(args.input)
    rows = decompress_codes(model, encoded, repr(args.input))
    if args.scale_back:
        rows = rows * np.float32(255)
    write_array(args.output, rows, ",".join(f"x{j}" for j in range(rows.shape[1])))
    say(f"wrote {args.output}: {rows.shape[0]:,} x {rows.shape[1]:,} decoded rows"
        + (", multiplied by 255" if args.scale_back else ""))
    return OK


def _load_train_and_test(args, notes):
    """(training rows, test rows, note on the scale), both scaled alike: with ``--scale auto`` decided on
    each file alone, a test set with one non-integer value would stay in 0..255 while the training set
    is divided by 255, and the distances would compare different scales."""
    train = as_rows(read_array(args.train, "training data", notes), f"training data file {args.train!r}")
    test = as_rows(read_array(args.test, "test data", notes), f"test data file {args.test!r}")
    scale = args.scale
    if scale == "auto":
        train_pixels, test_pixels = looks_like_8bit_pixels(train), looks_like_8bit_pixels(test)
        if train_pixels != test_pixels:
            pixels, other = (args.train, args.test) if train_pixels else (args.test, args.train)
            raise ValueError(f"--scale auto: {pixels!r} holds 8-bit pixel values (whole numbers 0..255) but "
                             f"{other!r} does not, so the two cannot be scaled alike; say how with --scale 255 "
                             "(divide both by 255) or --scale none (use both as they are)")
        scale = "255" if train_pixels else "none"
    train, _, note = scale_rows(train, scale)
    test, _, _ = scale_rows(test, scale)
    return train, test, note


def command_knn(args):
    from .experiments.knn import timed_knn
    from .progress import Progress

    say = _Printer(args.quiet)
    if args.output:
        check_output(args.output, RESULT_EXTENSIONS, "-o")
        check_not_input(args.output, [args.train, args.test, args.train_labels, args.test_labels, args.model])
    notes = []
    train, test, note = _load_train_and_test(args, notes)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"the training data has {train.shape[1]:,} features per row, the test data "
                         f"{test.shape[1]:,}")
    train_labels = read_labels(args.train_labels, train.shape[0], "--train-labels", notes)
    test_labels = read_labels(args.test_labels, test.shape[0], "--test-labels", notes) if args.test_labels else None
    if args.k > train.shape[0]:
        raise ValueError(f"-k {args.k} is larger than the training set ({_count(train.shape[0], 'row')})")
    space = f"raw features (R^{train.shape[1]})"
    if args.model:
        model = _load_autoencoder(args.model)
        _check_features(train, model, args.train, args.model)
        train, test = model.encode(train), model.encode(test)
        space = f"latent features of {args.model} (R^{train.shape[1]})"
    note = "; ".join([note, *notes])
    accuracy, seconds, predictions, _ = timed_knn(train, train_labels, test, test_labels, k=args.k,
                                               progress=_StatusOnly(Progress(quiet=args.quiet)),
                                               label=f"kNN on {space}")
    result = f"accuracy {100 * accuracy:.2f} %, " if accuracy is not None else ""
    say(f"kNN (k = {args.k}) on {space}: {result}{_count(test.shape[0], 'test row')} against "
        f"{_count(train.shape[0], 'training row')} in {seconds:.2f} s (fit + predict; {note})")
    if args.output:
        write_array(args.output, predictions, "label")
        say(f"wrote {args.output}: {_count(predictions.shape[0], 'predicted label')}")
    return OK


SCORE_NAMES = {"re": "reconstruction error", "bce": "reconstruction BCE", "elbo": "negative ELBO"}
SCORE_COLUMNS = {"re": "reconstruction_error", "bce": "reconstruction_bce", "elbo": "negative_elbo"}


def command_anomaly(args):
    from .anomaly import ReconstructionErrorDetector

    say = _Printer(args.quiet)
    if args.output:
        check_output(args.output, RESULT_EXTENSIONS, "-o")
        check_not_input(args.output, [args.input, *args.model])
    models = [_load_autoencoder(path) for path in args.model]
    widths = {_model_sizes(model)[0] for model in models}
    if len(widths) > 1:
        raise ValueError(f"the models expect different numbers of features: {sorted(widths)}")
    notes = []
    x, _, note = load_rows(args.input, args.scale, notes)
    note = "; ".join([note, *notes])
    _check_features(x, models[0], args.input, args.model[0])
    detector = ReconstructionErrorDetector(models, combine=args.combine, contamination=args.contamination,
                                           threshold=args.threshold, anomaly_score=args.score).fit(x)
    scores = detector.decision_scores_
    what = SCORE_NAMES[args.score] + (f" ({args.combine} of {len(models)} models)" if len(models) > 1 else "")
    say(f"{what} of {_count(x.shape[0], 'row')} of {args.input} ({note}): median {np.median(scores):.5g}, "
        f"largest {scores.max():.5g}")
    if detector.threshold_ is not None:
        say(f"threshold {detector.threshold_:.5g}: {_count(int(detector.labels_.sum()), 'row')} flagged as anomalies")
    count = min(args.top, scores.size)
    if count:
        order = np.argsort(-scores, kind="stable")[:count]
        say(f"the {count:,} largest (row index: {SCORE_NAMES[args.score]}):")
        for index in order:
            say(f"  {index:>8}: {scores[index]:.6g}")
    if args.output:
        if detector.labels_ is not None:
            table = np.column_stack([scores, detector.labels_])
            header = f"{SCORE_COLUMNS[args.score]},anomaly"
            result = table if args.output.lower().endswith(".csv") else scores
        else:
            result, header = scores, SCORE_COLUMNS[args.score]
        write_array(args.output, result, header)
        say(f"wrote {args.output}: {_count(scores.size, 'score')}, one per row")
    return OK


# ------------------------------------------------------------------------------------------------
# The parser

def _finite_float(test, expected):
    """An argparse type: a finite float for which ``test(value)`` holds (NaN and infinity never pass)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not {expected}")
        return value
    return parse


_fraction = _finite_float(lambda value: 0 <= value < 1, "in [0, 1)")


def _integer(minimum):
    """An argparse type: an int >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not >= {minimum}")
        return value
    return parse


_positive_int = _integer(1)
_seed = _integer(0)


def _wrap(text, width=79):
    """Fill each paragraph of ``text`` to ``width`` columns (the formatter keeps line breaks as given)."""
    return "\n\n".join(textwrap.fill(paragraph, width) for paragraph in text.split("\n\n"))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions kept as written (they are pre-wrapped, and the examples keep their layout), and a
    help column that leaves room for the command names."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action):
        super().add_argument(action)
        if action.nargs == argparse.PARSER:
            # argparse measures the command names without the extra indent it prints them with.
            self._action_max_length += 4


def build_parser():
    from .experiments import EXPERIMENTS

    formatter = _Formatter
    parser = argparse.ArgumentParser(
        prog="npae", formatter_class=formatter,
        description=_wrap("Autoencoders from scratch in NumPy: reproduce U. Michelucci's \"An Introduction to "
                    "Autoencoders\" (arXiv 2201.03898) on your machine, or use them on your own data."),
        epilog="Start with:  npae reproduce --quick      (about a minute; a report in ./npae-report/)\n"
               "Then:        npae reproduce              (the paper's set-up, about 15 minutes on 2 cores)\n"
               "Help on a command:  npae <command> --help")
    parser.add_argument("--version", action="version", version=f"npae {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="<command>")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    # The commands on the user's data share how they read it.
    user_data = argparse.ArgumentParser(add_help=False, parents=[quiet])
    user_data.add_argument("--scale", choices=SCALES, default="auto",
                           help="auto (default): divide by 255 when every value is a whole number in 0..255 "
                                "(8-bit pixels); 255: always; none: never.  Use the same choice for every "
                                "command on the same data")

    reproduce = commands.add_parser(
        "reproduce", parents=[quiet], formatter_class=formatter,
        help="run the paper's experiments and write a report with figures",
        description=_wrap("Run every experiment of the paper (or those named by --only) and write DIR/report.md, "
                    "DIR/report.html (the same report as one self-contained page: open it in a browser) and "
                    "DIR/figures/*.png, with the paper's numbers beside ours, the machine, the versions and the "
                    "time each part took.\n\nData: MNIST and Fashion-MNIST are looked for (NPAE_DATA, the user "
                    "cache...; see `npae data info`) and downloaded if missing.  Offline and with nothing found, "
                    "the run uses the small sample embedded in npae and says so at the top of the report."),
        epilog="experiments, in the paper's order:\n" + "\n".join(
            f"  {e.name:<15} {e.number}. {e.title} (paper {e.paper})" for e in EXPERIMENTS.values()))
    reproduce.add_argument("--quick", action="store_true",
                           help="fewer epochs and test images: under 90 s on 2 cores, labelled as such in the report")
    reproduce.add_argument("--out", metavar="DIR", default="npae-report",
                           help="folder for report.md, report.html and figures/ (default: %(default)s)")
    reproduce.add_argument("--only", metavar="NAME", nargs="+", choices=list(EXPERIMENTS),
                           help="run only these experiments (names below)")
    reproduce.add_argument("--seed", type=_seed, default=0, help="seed of every random choice (default: %(default)s)")
    reproduce.add_argument("--data-dir", metavar="DIR", help="look for mnist/ and fashion-mnist/ in DIR first")
    reproduce.add_argument("--offline", action="store_true",
                           help="never download: use the embedded sample when the data is not found")
    reproduce.add_argument("--sample", action="store_true", help="use the embedded sample even if the full data exists")
    reproduce.add_argument("--full-convolutional", action="store_true",
                           help="train section 4's convolutional models with the notebook's full set-up (60,000 "
                                "images, 30 epochs: about two hours for the denoiser on a 2-core machine, "
                                "longer while other programs run) instead of the reduced one")
    reproduce.set_defaults(handler=command_reproduce)

    data = commands.add_parser(
        "data", formatter_class=formatter, help="find, verify, download or export MNIST and Fashion-MNIST",
        description=_wrap("Where npae looks for the data sets, what it found, how to get them, and how to "
                          "write them out as .npy or .csv files."))
    actions = data.add_subparsers(dest="action", title="actions", metavar="<action>", required=True)
    info = actions.add_parser(
        "info", formatter_class=formatter, help="show every place searched and verify what is there",
        description=_wrap("Show, for MNIST and Fashion-MNIST, every place searched, what each holds, and which copy "
                          "the loaders use, verified.  Exit status: 0 when both data sets are found and verified, "
                          "1 when one is missing or damaged (the commands then fall back to the embedded sample, "
                          "or stop at the damaged file), so that scripts can test it."))
    info.add_argument("--data-dir", metavar="DIR", help="also search DIR first")
    fetch = actions.add_parser("fetch", help="download the data sets that are missing, and verify them")
    fetch.add_argument("names", nargs="*", metavar="NAME",
                       help="mnist and/or fashion-mnist (default: both)")
    fetch.add_argument("--data-dir", metavar="DIR", help="download into DIR instead of NPAE_DATA or the user cache")
    export = actions.add_parser(
        "export", formatter_class=formatter, help="write a data set as .npy or .csv files for the other commands",
        description=_wrap("Write NAME's training and test images (pixels 0..255, one image of 784 values per "
                          "row) and their labels as four files in DIR: NAME-train-images, NAME-train-labels, "
                          "NAME-test-images, NAME-test-labels (.npy or .csv).  The data is found as for "
                          "`npae reproduce`; offline and with nothing found, the embedded sample is written, "
                          "with a notice, as NAME-sample-*.  Existing files are not replaced without --force."),
        epilog="example:  npae data export mnist --format csv -o data\n"
               "          npae train data/mnist-train-images.csv -o model.npz")
    export.add_argument("name", choices=["mnist", "fashion-mnist"], metavar="NAME", help="mnist or fashion-mnist")
    export.add_argument("--format", choices=["npy", "csv"], default="npy", help="(default: %(default)s)")
    export.add_argument("-o", "--output", metavar="DIR", default=".",
                        help="folder for the four files, created if needed (default: the current folder)")
    export.add_argument("--force", action="store_true", help="replace files that already exist")
    export.add_argument("--data-dir", metavar="DIR", help="look for mnist/ and fashion-mnist/ in DIR first")
    export.add_argument("--offline", action="store_true",
                        help="never download: write the embedded sample when the data is not found")
    export.add_argument("--sample", action="store_true", help="write the embedded sample even if the full data exists")
    data.set_defaults(handler=command_data)

    data_help = "a .npy, .npz (FILE.npz:KEY to pick an array) or .csv file, one observation per row"

    train = commands.add_parser(
        "train", parents=[user_data], formatter_class=formatter, help="train an autoencoder on your data and save it",
        description=_wrap("Train a feed-forward autoencoder FEATURES-[HIDDEN-]Q-[HIDDEN-]FEATURES on DATA and save "
                    "it.  Values in [0, 1] get the paper's model (sigmoid output, binary cross-entropy); other "
                    "values a linear output and the mean squared error."),
        epilog="example:  npae train images.npy -o model.npz --latent 32 --epochs 20")
    train.add_argument("input", metavar="DATA", help=data_help)
    train.add_argument("-o", "--output", metavar="MODEL.npz", required=True, help="where to save the model")
    train.add_argument("--latent", metavar="Q", type=_positive_int,
                       help="size of the bottleneck (default: 64, or half the features when there are fewer than 128)")
    train.add_argument("--hidden", metavar="SIZES", default="", help="hidden layer sizes between input and bottleneck, "
                       "e.g. 256,64 (mirrored in the decoder; default: none)")
    train.add_argument("--epochs", type=_positive_int, default=30, help="passes over the data (default: %(default)s)")
    train.add_argument("--batch-size", type=_positive_int, default=256, help="(default: %(default)s)")
    train.add_argument("--loss", choices=["auto", "bce", "mse"], default="auto",
                       help="bce needs values in [0, 1]; auto picks bce for such data, mse otherwise")
    train.add_argument("--activation", default="relu", help="of the hidden and latent layers (default: %(default)s)")
    train.add_argument("--noise", type=_finite_float(lambda value: value >= 0, "a standard deviation >= 0"),
                       default=0.0,
                       help="standard deviation of Gaussian noise added to the inputs while training: a denoising "
                            "autoencoder (default: 0)")
    train.add_argument("--validation-split", type=_fraction, default=0.0, metavar="FRACTION",
                       help="hold out this last fraction of the rows to report val_loss (default: 0)")
    train.add_argument("--seed", type=_seed, default=0, help="(default: %(default)s)")
    train.set_defaults(handler=command_train)

    encode = commands.add_parser(
        "encode", parents=[user_data], formatter_class=formatter,
        help="latent features (or reconstructions) of your data",
        description=_wrap("Run the encoder of a saved model on DATA and write the latent features h = g(x), one "
                    "row per observation; --reconstruct writes f(g(x)) instead."),
        epilog="example:  npae encode -m model.npz images.npy -o codes.csv")
    encode.add_argument("-m", "--model", required=True, metavar="MODEL.npz", help="a model saved by npae train")
    encode.add_argument("input", metavar="DATA", help=data_help)
    encode.add_argument("-o", "--output", required=True, metavar="OUT", help="a .npy or .csv file")
    encode.add_argument("--reconstruct", action="store_true", help="write the reconstructions, not the codes")
    encode.add_argument("--scale-back", action="store_true",
                        help="with --reconstruct, when the input was divided by 255 (--scale), multiply the "
                             "reconstructions by 255 so that they are on the input's 0..255 scale")
    encode.set_defaults(handler=command_encode)

    knn = commands.add_parser(
        "knn", parents=[user_data], formatter_class=formatter, help="k-nearest-neighbour classification, raw or latent",
        description=_wrap("Classify the rows of TEST by their k nearest rows of TRAIN (Euclidean distance, uniform "
                    "votes), on the raw features or, with -m, on a model's latent features: the paper's tables 1 "
                    "and 2 on your data."),
        epilog="example:  npae knn train.npy test.npy --train-labels y_train.npy --test-labels y_test.npy -m model.npz")
    knn.add_argument("train", metavar="TRAIN", help=data_help)
    knn.add_argument("test", metavar="TEST", help="the rows to classify, same format")
    knn.add_argument("--train-labels", required=True, metavar="LABELS", help="one integer label per TRAIN row")
    knn.add_argument("--test-labels", metavar="LABELS", help="the true labels of TEST: prints the accuracy")
    knn.add_argument("-k", type=_positive_int, default=7,
                     help="neighbours that vote (default: %(default)s, the paper's)")
    knn.add_argument("-m", "--model", metavar="MODEL.npz", help="classify on this model's latent features")
    knn.add_argument("-o", "--output", metavar="OUT", help="write the predicted labels (.npy or .csv)")
    knn.set_defaults(handler=command_knn)

    anomaly = commands.add_parser(
        "anomaly", parents=[user_data], formatter_class=formatter, help="rank your data by reconstruction error",
        description=_wrap("Score every row of DATA by its reconstruction error (the mean squared error between x and "
                    "f(g(x))) under one model, or the mean or maximum over several, and list the largest: "
                    "the paper's anomaly detection.  --score bce scores by the reconstruction's binary "
                    "cross-entropy instead, which catches far more of the anomalies on images."),
        epilog="example:  npae anomaly -m model.npz new_images.npy --top 5 --contamination 0.01 -o scores.csv\n"
               "          npae anomaly -m model.npz new_images.npy --score bce")
    anomaly.add_argument("input", metavar="DATA", help=data_help)
    anomaly.add_argument("-m", "--model", required=True, action="append", metavar="MODEL.npz",
                         help="a model saved by npae train; repeat for an ensemble")
    anomaly.add_argument("--score", choices=list(SCORE_NAMES), default="re",
                         help="re (default): the paper's reconstruction error, the mean squared error per value; "
                              "bce: the reconstruction's binary cross-entropy summed over the values, for models "
                              "trained on [0, 1] data with bce (npae train's default there): on the paper's test it "
                              "puts 99.6 %% of Fashion-MNIST shoes above every MNIST digit, against 86-90 %% for re "
                              "(npae reproduce, section 9.3); elbo: needs a variational autoencoder")
    anomaly.add_argument("--combine", choices=["mean", "max"], default="mean",
                         help="how the errors of several models combine (default: %(default)s)")
    anomaly.add_argument("--top", type=_integer(0), default=10, metavar="N",
                         help="list the N largest errors (default: %(default)s)")
    flag = anomaly.add_mutually_exclusive_group()
    flag.add_argument("--contamination", type=_finite_float(lambda value: 0 < value <= 0.5, "in (0, 0.5]"),
                      metavar="FRACTION",
                      help="flag this fraction of the rows (in (0, 0.5]) as anomalies")
    flag.add_argument("--threshold", type=_finite_float(lambda value: True, "a finite number"), help="flag the rows whose error exceeds this value")
    anomaly.add_argument("-o", "--output", metavar="OUT",
                         help="write the scores (.npy), or index-aligned scores and flags (.csv)")
    anomaly.set_defaults(handler=command_anomaly)

    compress = commands.add_parser(
        "compress", parents=[user_data], formatter_class=formatter,
        help="your data's codes, arithmetic-coded into one file",
        description=_wrap("Encode DATA with a saved model, quantise each code number uniformly to 2^bits levels "
                          "and arithmetic-code them under their measured frequencies (stored in the file)."),
        epilog="example:  npae compress -m model.npz images.npy -o images.npac --bits 6")
    compress.add_argument("-m", "--model", required=True, metavar="MODEL.npz", help="a model saved by npae train")
    compress.add_argument("input", metavar="DATA", help=data_help)
    compress.add_argument("-o", "--output", required=True, metavar="OUT.npac", help="the compressed file")
    compress.add_argument("--bits", type=_integer(1), default=6,
                          help="levels 2^bits per code number, 1 to 15 (default: %(default)s)")
    compress.set_defaults(handler=command_compress)

    decompress = commands.add_parser(
        "decompress", parents=[quiet], formatter_class=formatter, help="rows back from a file of npae compress",
        description=_wrap("Decode a file written by npae compress with the same model (checked) into rows."),
        epilog="example:  npae decompress -m model.npz images.npac -o decoded.npy")
    decompress.add_argument("-m", "--model", required=True, metavar="MODEL.npz", help="the model that compressed it")
    decompress.add_argument("input", metavar="CODES.npac", help="a file written by npae compress")
    decompress.add_argument("-o", "--output", required=True, metavar="OUT", help="a .npy or .csv file")
    decompress.add_argument("--scale-back", action="store_true", help="multiply the decoded rows by 255")
    decompress.set_defaults(handler=command_decompress)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler, a container stopping), raised as an exception, as Python does with
    Ctrl-C: every ``with`` and ``finally`` on the way runs, so an atomic write deletes its temporary
    file instead of leaving ``.NAME.<hex>.part`` behind."""


def _raise_terminated(signal_number, frame):
    raise Terminated()


def _handle_sigterm():
    """Install the SIGTERM handler for the command's duration; returns what to restore (None when it cannot
    be installed: signal handlers belong to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _one_line(error):
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version, or a usage error (argparse printed it)
        return exit_request.code if isinstance(exit_request.code, int) else USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    args.argv = argv[1:]
    name = f"npae {args.command}" + (f" {args.action}" if getattr(args, "action", None) else "")
    previous_sigterm = _handle_sigterm()
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported as one line (write_array)
            return args.handler(args)
    except Terminated:
        print(f"{name}: terminated (SIGTERM)", file=sys.stderr)
        return TERMINATED
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `npae anomaly ... | head`: the reader has gone, nothing left to say to it
        _silence_stdout()
        return FAILED
    except MemoryError as error:
        print(f"{name}: error: out of memory ({_one_line(error)})", file=sys.stderr)
        return FAILED
    except (ValueError, OSError, RuntimeError, ArithmeticError) as error:
        print(f"{name}: error: {_one_line(error)}", file=sys.stderr)
        return FAILED
    except Exception as error:  # a fault in npae itself: still one line, and what to report
        print(f"{name}: internal error: {type(error).__name__}: {_one_line(error)} (please report it, "
              "with the command that caused it)", file=sys.stderr)
        return FAILED
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def _silence_stdout():
    """Point stdout at /dev/null, so that Python's flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (captured in a test)
        pass


if __name__ == "__main__":
    sys.exit(main())
