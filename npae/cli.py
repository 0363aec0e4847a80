"""The ``npae`` command line: the paper end to end, and autoencoders for your own data.

    npae reproduce [--quick] [--out DIR] [--only NAME ...]   every experiment of the paper, with a report
                   [--full-convolutional]                 (section 4 with the notebook's full set-up)
    npae data info | fetch                                    where MNIST / Fashion-MNIST are, or get them
    npae train DATA -o MODEL.npz                              train an autoencoder on your data
    npae encode -m MODEL.npz DATA -o CODES.npy                latent features (or reconstructions)
    npae knn TRAIN TEST --train-labels LABELS                 k-nearest-neighbour classification
    npae anomaly -m MODEL.npz DATA                            reconstruction errors, the oddest rows first

Data files: ``.npy``, ``.npz`` (``FILE.npz:KEY`` picks an array) or ``.csv`` (numbers separated by
commas, an optional header line), one observation per row; images of any shape are flattened.
Results are written as ``.npy`` or ``.csv``, chosen by the extension of ``-o``.

A mistake in the input (a missing or damaged file, the wrong number of columns...) gives one line on
stderr and exit status 1; a wrong option gives argparse's usage message and status 2.
"""
import argparse
import io
import os
import sys
import textwrap
import time

import numpy as np

from . import __version__

# Exit statuses.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

SCALES = ("auto", "none", "255")


# ------------------------------------------------------------------------------------------------
# Reading and writing the user's files

def _split_key(spec):
    """``"data.npz:x_train"`` -> ("data.npz", "x_train"); anything else -> (spec, None)."""
    head, separator, key = spec.rpartition(":")
    if separator and head.lower().endswith(".npz") and key:
        return head, key
    return spec, None


def _read_csv(path):
    with open(path, encoding="utf-8") as stream:
        lines = [line for line in stream if line.strip()]
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    first = lines[0].split(",")
    try:
        [float(cell) for cell in first]
        header = 0
    except ValueError:
        header = 1  # a line of column names
    try:
        return np.loadtxt(io.StringIO("".join(lines[header:])), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: not a table of numbers separated by commas ({error})") from None


def read_array(spec, what="data"):
    """The array in file ``spec`` (.npy, .npz[:KEY] or .csv), never unpickling anything.

    Any failure to read it is a ValueError that names the file and says what was expected.
    """
    path, key = _split_key(spec)
    if not os.path.isfile(path):
        raise ValueError(f"{what} file {path!r} does not exist")
    extension = os.path.splitext(path)[1].lower()
    if extension in (".csv", ".txt"):
        return _read_csv(path)
    if extension not in (".npy", ".npz"):
        raise ValueError(f"{what} file {path!r}: expected a .npy, .npz or .csv file")
    try:
        if extension == ".npy":
            with open(path, "rb") as stream:
                if stream.read(6) != b"\x93NUMPY":
                    raise ValueError("it does not start with the .npy signature (not a NumPy file, or damaged)")
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None:
                if len(names) == 1:
                    key = names[0]
                elif "x" in names:
                    key = "x"
                else:
                    raise ValueError(f"it holds {len(names)} arrays ({', '.join(names)}); pick one with "
                                     f"{path}:NAME")
            if key not in names:
                raise ValueError(f"it has no array {key!r} (it holds {', '.join(names) or 'none'})")
            return archive[key]
    except Exception as error:  # a damaged or foreign file may fail in zipfile, numpy's header parser, ...
        raise ValueError(f"{what} file {path!r} could not be read: {error}") from None


def as_rows(array, what="data"):
    """``array`` as a 2-D float array of observations x features: images (N, 28, 28) are flattened."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        raise ValueError(f"{what} has shape {array.shape}: expected one observation per row (a 2-D array)")
    if array.ndim == 0 or array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    rows = array.reshape(array.shape[0], -1)
    if not np.isfinite(rows).all():
        raise ValueError(f"{what} contains NaN or infinity")
    return rows


def scale_rows(rows, scale):
    """Apply ``--scale``: "255" divides by 255; "auto" does so when every value is a whole number in
    0..255 and some exceed 1 (8-bit pixels); "none" keeps the values.  Returns (float32 rows, note)."""
    divide = scale == "255"
    if scale == "auto":
        divide = bool(rows.min() >= 0 and rows.max() <= 255 and rows.max() > 1 and np.all(rows == np.round(rows)))
    rows = rows.astype(np.float32)
    if divide:
        rows /= np.float32(255)
        return rows, "pixel values 0..255 divided by 255"
    return rows, "values used as they are"


def load_rows(spec, scale, what="data"):
    rows, note = scale_rows(as_rows(read_array(spec, what), what), scale)
    return rows, note


def read_labels(spec, n_rows, what):
    labels = np.asarray(read_array(spec, what))
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise ValueError(f"{what} has shape {labels.shape}: expected one label per data row, ({n_rows},)")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ValueError(f"{what} must be whole numbers (class labels)")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "biu":
        raise ValueError(f"{what} must hold integer class labels, got dtype {labels.dtype}")
    return labels


def write_array(path, array, header):
    """Write ``array`` to ``path`` (.npy, or .csv with a header line), atomically."""
    from ._files import atomic_write

    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        atomic_write(path, lambda stream: np.save(stream, array, allow_pickle=False))
    elif extension == ".csv":
        text = io.StringIO()
        integer = np.asarray(array).dtype.kind in "biu"
        np.savetxt(text, array, delimiter=",", header=header, comments="", fmt="%d" if integer else "%.8g")
        atomic_write(path, lambda stream: stream.write(text.getvalue().encode("utf-8")))
    else:
        raise ValueError(f"output {path!r}: expected a file name ending in .npy or .csv")


def _check_output(path):
    """Fail before the work, not after it, when the output cannot be written."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".npy", ".csv"):
        raise ValueError(f"output {path!r}: expected a file name ending in .npy or .csv")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"output {path!r}: the folder {directory!r} does not exist")


def _load_model(path):
    from .io import load

    if not os.path.isfile(path):
        raise ValueError(f"model file {path!r} does not exist")
    return load(path)


class _Printer:
    """Result lines on stdout, unless --quiet."""

    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, text):
        if not self.quiet:
            print(text, flush=True)


# ------------------------------------------------------------------------------------------------
# Commands

def command_reproduce(args):
    from .progress import Progress
    from .report import reproduce

    command = "npae reproduce" + "".join(f" {part}" for part in (args.argv or []))
    return reproduce(args.out, quick=args.quick, only=args.only, seed=args.seed,
                     progress=Progress(quiet=args.quiet), data_dir=args.data_dir, download=not args.offline,
                     sample=args.sample, command=command, full_convolutional=args.full_convolutional)


def command_data(args):
    from .datasets.commands import data_fetch, data_info

    if args.action == "info":
        return data_info(sys.stdout, data_dir=args.data_dir)
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


def command_train(args):
    from .model import Autoencoder
    from .progress import Progress, fit_with_progress

    say = _Printer(args.quiet)
    if os.path.splitext(args.output)[1].lower() != ".npz":
        raise ValueError(f"--output {args.output!r}: a model file must end in .npz")
    x, note = load_rows(args.input, args.scale)
    n_features = x.shape[1]
    latent = args.latent if args.latent is not None else (64 if n_features >= 128 else max(1, n_features // 2))
    sizes = [n_features, *_parse_hidden(args.hidden), latent]
    in_unit_interval = bool(x.min() >= 0 and x.max() <= 1)
    loss = args.loss if args.loss != "auto" else ("bce" if in_unit_interval else "mse")
    if loss == "bce" and not in_unit_interval:
        raise ValueError(f"--loss bce needs values in [0, 1], but {args.input} holds values in "
                         f"[{x.min():g}, {x.max():g}]; rescale them (--scale 255 for 8-bit pixels) or use --loss mse")
    output_activation = "sigmoid" if loss == "bce" else "identity"
    model = Autoencoder(sizes, activation=args.activation, output_activation=output_activation, loss=loss,
                        noise=args.noise, seed=args.seed)
    architecture = "-".join(map(str, sizes + sizes[-2::-1]))
    say(f"training {architecture} ({args.activation}, {output_activation} output, {loss.upper()}) on {x.shape[0]:,} "
        f"rows of {args.input} ({note}), {args.epochs} epochs")
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
    _check_output(args.output)
    model = _load_model(args.model)
    x, note = load_rows(args.input, args.scale)
    if x.shape[1] != model.input_shape[0]:
        raise ValueError(f"{args.input} has {x.shape[1]} features per row, but the model {args.model} expects "
                         f"{model.input_shape[0]}")
    if args.reconstruct:
        result, header = model.reconstruct(x), ",".join(f"x{j}" for j in range(model.input_shape[0]))
    else:
        result, header = model.encode(x), ",".join(f"h{j}" for j in range(model.latent_size))
    write_array(args.output, result, header)
    say(f"wrote {args.output}: {'reconstructions' if args.reconstruct else 'latent features'} "
        f"{result.shape[0]:,} x {result.shape[1]} ({note})")
    return OK


def command_knn(args):
    from .experiments.knn import timed_knn
    from .progress import Progress

    say = _Printer(args.quiet)
    if args.output:
        _check_output(args.output)
    train, note = load_rows(args.train, args.scale, "training data")
    test, _ = load_rows(args.test, args.scale, "test data")
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"the training data has {train.shape[1]} features per row, the test data {test.shape[1]}")
    train_labels = read_labels(args.train_labels, train.shape[0], "--train-labels")
    test_labels = read_labels(args.test_labels, test.shape[0], "--test-labels") if args.test_labels else None
    if args.k > train.shape[0]:
        raise ValueError(f"-k {args.k} is larger than the training set ({train.shape[0]} rows)")
    space = f"raw features (R^{train.shape[1]})"
    if args.model:
        model = _load_model(args.model)
        if train.shape[1] != model.input_shape[0]:
            raise ValueError(f"the data has {train.shape[1]} features per row, the model {args.model} expects "
                             f"{model.input_shape[0]}")
        train, test = model.encode(train), model.encode(test)
        space = f"latent features of {args.model} (R^{model.latent_size})"
    accuracy, seconds, predictions, _ = timed_knn(train, train_labels, test, test_labels, k=args.k,
                                               progress=Progress(quiet=args.quiet), label=f"kNN on {space}")
    say(f"kNN (k = {args.k}) on {space}, {note}: {test.shape[0]:,} test rows against {train.shape[0]:,} "
        f"training rows in {seconds:.2f} s (fit + predict)")
    if accuracy is not None:
        say(f"accuracy: {100 * accuracy:.2f} %")
    if args.output:
        write_array(args.output, predictions, "label")
        say(f"wrote {args.output}: {predictions.shape[0]:,} predicted labels")
    return OK


def command_anomaly(args):
    from .anomaly import ReconstructionErrorDetector

    say = _Printer(args.quiet)
    if args.output:
        _check_output(args.output)
    models = [_load_model(path) for path in args.model]
    widths = {model.input_shape[0] for model in models}
    if len(widths) > 1:
        raise ValueError(f"the models expect different numbers of features: {sorted(widths)}")
    x, note = load_rows(args.input, args.scale)
    if x.shape[1] != models[0].input_shape[0]:
        raise ValueError(f"{args.input} has {x.shape[1]} features per row, but the model expects {models[0].input_shape[0]}")
    detector = ReconstructionErrorDetector(models, combine=args.combine, contamination=args.contamination,
                                           threshold=args.threshold).fit(x)
    scores = detector.decision_scores_
    what = "reconstruction error" + (f" ({args.combine} of {len(models)} models)" if len(models) > 1 else "")
    say(f"{what} of {x.shape[0]:,} rows of {args.input} ({note}): median {np.median(scores):.5g}, "
        f"largest {scores.max():.5g}")
    if detector.threshold_ is not None:
        say(f"threshold {detector.threshold_:.5g}: {int(detector.labels_.sum()):,} rows flagged as anomalies")
    count = min(args.top, scores.size)
    if count:
        order = np.argsort(-scores, kind="stable")[:count]
        say(f"the {count} largest (row index: error):")
        for index in order:
            say(f"  {index:>8}: {scores[index]:.6g}")
    if args.output:
        if detector.labels_ is not None:
            table = np.column_stack([scores, detector.labels_])
            header = "reconstruction_error,anomaly"
            result = table if args.output.lower().endswith(".csv") else scores
        else:
            result, header = scores, "reconstruction_error"
        write_array(args.output, result, header)
        say(f"wrote {args.output}: {scores.size:,} scores, one per row")
    return OK


# ------------------------------------------------------------------------------------------------
# The parser

def _fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


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
               "Then:        npae reproduce              (the paper's set-up, a few minutes)\n"
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
        description=_wrap("Run every experiment of the paper (or those named by --only) and write DIR/report.md and "
                    "DIR/figures/*.png, with the paper's numbers beside ours, the machine, the versions and the "
                    "time each part took.\n\nData: MNIST and Fashion-MNIST are looked for (NPAE_DATA, the user "
                    "cache...; see `npae data info`) and downloaded if missing.  Offline and with nothing found, "
                    "the run uses the small sample embedded in npae and says so at the top of the report."),
        epilog="experiments, in the paper's order:\n" + "\n".join(
            f"  {e.name:<15} {e.number}. {e.title} (paper {e.paper})" for e in EXPERIMENTS.values()))
    reproduce.add_argument("--quick", action="store_true",
                           help="fewer epochs and test images: under 90 s on 2 cores, labelled as such in the report")
    reproduce.add_argument("--out", metavar="DIR", default="npae-report",
                           help="folder for report.md and figures/ (default: %(default)s)")
    reproduce.add_argument("--only", metavar="NAME", nargs="+", choices=list(EXPERIMENTS),
                           help="run only these experiments (names below)")
    reproduce.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: %(default)s)")
    reproduce.add_argument("--data-dir", metavar="DIR", help="look for mnist/ and fashion-mnist/ in DIR first")
    reproduce.add_argument("--offline", action="store_true",
                           help="never download: use the embedded sample when the data is not found")
    reproduce.add_argument("--sample", action="store_true", help="use the embedded sample even if the full data exists")
    reproduce.add_argument("--full-convolutional", action="store_true",
                           help="train section 4's convolutional models with the notebook's full set-up (60,000 "
                                "images, 30 epochs: about an hour) instead of the reduced one")
    reproduce.set_defaults(handler=command_reproduce)

    data = commands.add_parser(
        "data", formatter_class=formatter, help="find, verify or download MNIST and Fashion-MNIST",
        description=_wrap("Where npae looks for the data sets, what it found, and how to get them."))
    actions = data.add_subparsers(dest="action", title="actions", metavar="<action>", required=True)
    info = actions.add_parser("info", help="show every place searched and verify what is there")
    info.add_argument("--data-dir", metavar="DIR", help="also search DIR first")
    fetch = actions.add_parser("fetch", help="download the data sets that are missing, and verify them")
    fetch.add_argument("names", nargs="*", metavar="NAME",
                       help="mnist and/or fashion-mnist (default: both)")
    fetch.add_argument("--data-dir", metavar="DIR", help="download into DIR instead of NPAE_DATA or the user cache")
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
    train.add_argument("--noise", type=float, default=0.0,
                       help="standard deviation of Gaussian noise added to the inputs while training: a denoising "
                            "autoencoder (default: 0)")
    train.add_argument("--validation-split", type=_fraction, default=0.0, metavar="FRACTION",
                       help="hold out this last fraction of the rows to report val_loss (default: 0)")
    train.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
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
                    "the paper's anomaly detection."),
        epilog="example:  npae anomaly -m model.npz new_images.npy --top 5 --contamination 0.01 -o scores.csv")
    anomaly.add_argument("input", metavar="DATA", help=data_help)
    anomaly.add_argument("-m", "--model", required=True, action="append", metavar="MODEL.npz",
                         help="a model saved by npae train; repeat for an ensemble")
    anomaly.add_argument("--combine", choices=["mean", "max"], default="mean",
                         help="how the errors of several models combine (default: %(default)s)")
    anomaly.add_argument("--top", type=_integer(0), default=10, metavar="N",
                         help="list the N largest errors (default: %(default)s)")
    flag = anomaly.add_mutually_exclusive_group()
    flag.add_argument("--contamination", type=float, metavar="FRACTION",
                      help="flag this fraction of the rows (in (0, 0.5]) as anomalies")
    flag.add_argument("--threshold", type=float, help="flag the rows whose error exceeds this value")
    anomaly.add_argument("-o", "--output", metavar="OUT",
                         help="write the scores (.npy), or index-aligned scores and flags (.csv)")
    anomaly.set_defaults(handler=command_anomaly)
    return parser


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
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"npae {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, OSError, RuntimeError, ArithmeticError, MemoryError) as error:
        print(f"npae {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
