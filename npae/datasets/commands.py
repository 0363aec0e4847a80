"""What ``npae data info`` and ``npae data fetch`` run; each returns the command's exit status.

``data_info`` looks at every place on the search path (:mod:`npae.datasets.locate`) and verifies every
data file it finds there, both the ``.gz`` and the uncompressed variant when a directory holds the two,
so that a damaged file is reported wherever it is, not only in the copy that would be loaded.
"""
import os
import sys

from .catalog import DATASETS, dataset_spec
from .download import fetch, mirror_urls
from .errors import CorruptFileError
from .loaders import LOADER_NAMES, read_sample
from .locate import Location, download_root, probe, read_verified, search_path, user_cache_dir, verify_idx_file
from .sample import sample_path


def _problems_at(location, spec):
    """``(probe, problems)``: what ``location`` holds and the verification failures of its files."""
    found = probe(location, spec)
    problems = []
    if found.status == "absent":
        return found, problems
    if location.kind == "keras-npz":
        try:
            read_verified(location, spec)
        except CorruptFileError as error:
            problems.append(str(error.path) + ": " + error.problem)
        return found, problems
    for file_spec in spec.files:
        for path in (location.path / file_spec.name, location.path / file_spec.gz_name):
            if path.is_file():
                try:
                    verify_idx_file(path, file_spec)
                except CorruptFileError as error:
                    problems.append(f"{path.name}: {error.problem}")
    return found, problems


def _dataset_report(spec, data_dir, stream):
    """Print the report of one data set; True when a verified copy will be loaded and nothing is damaged."""
    print(f"\n{spec.name}: {spec.title}, licence {spec.licence}", file=stream)
    used, damaged = None, False
    for number, location in enumerate(search_path(spec, data_dir), start=1):
        found, problems = _problems_at(location, spec)
        if problems:
            damaged = True
            status = "DAMAGED, never loaded:\n       " + "\n       ".join(problems)
        elif found.status == "complete":
            status = "verified (IDX headers, sizes and SHA-256 of the decompressed data)"
        elif found.status == "incomplete":
            status = found.describe() + " (the files present are intact)"
        else:
            status = found.describe()
        if used is None and found.status == "complete":
            used = (location, not problems)
            status += "   <- used" if not problems else "\n       <- the loaders pick this copy, and refuse it"
        print(f"  {number}. {location.place}: {location.path}\n       {status}", file=stream)
    try:
        sizes = [len(labels) for (split, kind), labels in read_sample(spec, ("train", "test")).items()
                 if kind == "labels"]
        print(f"  embedded sample: {sizes[0]:,} training + {sizes[1]:,} test images ({sample_path(spec.name)})",
              file=stream)
    except (OSError, ValueError) as error:
        damaged = True
        print(f"  embedded sample: UNUSABLE: {error}", file=stream)
    print("  mirrors: " + ", ".join(mirror_urls(spec.name)), file=stream)
    loader = LOADER_NAMES[spec.name]
    if used is None:
        target = download_root(data_dir)[0] / spec.name
        print(f"  => NOT FOUND. {loader}() will try to download it into {target}; `npae reproduce` falls back "
              f"to the embedded sample. Provide it with NPAE_DATA=<dir holding {spec.name}/> "
              "or `npae data fetch`.", file=stream)
    elif not used[1]:
        print(f"  => DAMAGED: {loader}() raises an error until the file above is replaced "
              "(delete it, then `npae data fetch`).", file=stream)
    else:
        print(f"  => ready: {loader}() reads {used[0].place} ({used[0].path})", file=stream)
    return used is not None and used[1] and not damaged


def data_info(stream=None, *, data_dir=None) -> int:
    """Print where each data set was found and whether it verified; ``stream`` defaults to stdout.

    Exit status 0 when every data set has a verified copy to load and no damaged file was seen
    anywhere; 1 otherwise (a data set missing, or a damaged file somewhere on the search path).
    """
    stream = sys.stdout if stream is None else stream
    print("npae data sets", file=stream)
    print(f"  data_dir argument: {data_dir if data_dir is not None else 'not given'}", file=stream)
    print(f"  NPAE_DATA:   {os.environ.get('NPAE_DATA') or 'not set'}", file=stream)
    print(f"  user cache:  {user_cache_dir()}", file=stream)
    root, place = download_root(data_dir)
    print(f"  downloads go to: {root} ({place})", file=stream)
    print(f"  NPAE_MIRROR: {os.environ.get('NPAE_MIRROR') or 'not set (public mirrors)'}", file=stream)
    all_ready = all([_dataset_report(spec, data_dir, stream) for spec in DATASETS.values()])
    return 0 if all_ready else 1


def data_fetch(data_dir=None, names=("mnist", "fashion-mnist"), stream=None) -> int:
    """Make sure each data set in ``names`` has a verified local copy, downloading it if needed.

    A data set whose first copy on the search path verifies is left alone.  Otherwise its missing
    files are downloaded into ``<root>/<name>/`` (root: ``data_dir``, ``$NPAE_DATA`` or the user
    cache) and the result is verified.  Damaged files are reported, never deleted: the user decides.
    Messages go to ``stream`` (stdout by default), download progress to stderr.
    Exit status 0 when every data set ends up verified, 1 otherwise.
    """
    stream = sys.stdout if stream is None else stream
    specs = [dataset_spec(name) for name in names]
    failures = 0
    for spec in specs:
        existing = next((location for location in search_path(spec, data_dir)
                         if probe(location, spec).status == "complete"), None)
        if existing is not None:
            try:
                read_verified(existing, spec)
                print(f"{spec.name}: already present in {existing.place} ({existing.path}), verified", file=stream)
                continue
            except CorruptFileError as error:
                print(f"{spec.name}: the copy in {existing.place} is damaged: {error}", file=stream)
        root, place = download_root(data_dir)
        print(f"{spec.name}: fetching into {root / spec.name} ({place})", file=stream)
        try:
            location = Location(place, fetch(spec.name, data_dir))
            read_verified(location, spec)
            print(f"{spec.name}: done, verified in {location.path}", file=stream)
        except (OSError, ValueError) as error:  # DownloadError, CorruptFileError, a read-only directory
            failures += 1
            print(f"{spec.name}: FAILED: {error}", file=stream)
    return 1 if failures else 0
