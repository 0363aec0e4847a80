"""Was the run slowed by other programs?  npae.report.machine measures it; the report and the console say it.

The verdict is tested on load samples chosen by hand; the watch and the whole run on this machine as it
is (busy or quiet): whatever the load, the report must agree with the load it measured.
"""
import io
import re
import time

from npae.report.machine import LoadWatch, slowed_by_load, usable_cores


def summary(samples, cores=2, cpu=100.0, wall=100.0):
    return {"samples": samples, "cores": cores, "cpu_seconds": cpu, "wall_seconds": wall}


def test_a_run_alone_is_not_slowed_and_a_crowded_one_is():
    assert slowed_by_load(summary([2.1, 2.6, 1.9])) is None              # this run's own two threads
    assert slowed_by_load(summary([])) is None                            # no load average on this system
    lines = slowed_by_load(summary([13.8, 12.2, 19.4], cpu=37.0, wall=149.0))
    assert lines[0] == ("Other programs shared this machine during the run: load average 15.1 on average, up to "
                        "19.4, on 2 usable cores (a run alone brings it to about 2).  This run got 0.25 "
                        "CPU-seconds per second (alone: up to 2).")
    assert "the numbers other than times are not affected" in lines[1]
    assert "`OPENBLAS_NUM_THREADS=1 npae reproduce`" in lines[2]
    assert slowed_by_load(summary([2.0, 2.0, 4.5])) is not None          # a peak above twice the cores
    assert slowed_by_load(summary([3.2, 3.2])) is not None                # a mean above cores + 1


def test_the_advice_is_not_repeated_to_whom_already_follows_it():
    lines = slowed_by_load(summary([9.0]), threads_setting="1")
    assert "OPENBLAS_NUM_THREADS" not in " ".join(lines) and lines[-1].endswith("quiet machine).")


def test_the_watch_samples_while_the_run_goes_on_and_stops_once():
    # No timed assertion: wait for the samples themselves (however slowly a busy machine schedules the
    # watch's thread), then check that the watch stopped and kept what it measured.
    started = time.perf_counter()
    with LoadWatch(interval=0.01) as watch:
        while len(watch.samples) < 3:
            time.sleep(0.01)
        waited = time.perf_counter() - started
    measured = watch.summary()
    assert len(measured["samples"]) >= 3 and measured["cores"] == usable_cores()
    assert measured["wall_seconds"] <= time.perf_counter() - started and measured["cpu_seconds"] >= 0
    assert measured["wall_seconds"] >= waited * 0.5
    assert watch.summary() == measured and not watch._thread.is_alive()


def test_the_report_and_the_console_agree_with_the_load_they_measured(tmp_path):
    from npae.progress import Progress
    from npae.report import reproduce

    screen = io.StringIO()
    assert reproduce(tmp_path, quick=True, only=["dimensionality"], progress=Progress(screen)) == 0
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    start, end = (float(value) for value in re.search(
        r"Load average \(1 min\) at the start: ([\d.]+), at the end: ([\d.]+)", report).groups())
    noticed = "SLOWED BY OTHER PROGRAMS" in report
    assert noticed == ("NOTICE: SLOWED BY OTHER PROGRAMS" in screen.getvalue())
    if min(start, end) > 2 * usable_cores():                            # busy throughout: it must be said
        assert noticed and "OPENBLAS_NUM_THREADS=1" in report
    if max(start, end) <= usable_cores():                               # quiet throughout: nothing to say
        assert not noticed
