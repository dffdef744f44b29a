"""recorders: samples reach the histogram whatever the buffering; counts add up."""
from __future__ import annotations

from perf_profiler.analysis import histogram
from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.engine.recorders import EndpointRecorder, Samples


def test_every_sample_is_in_the_finished_histogram() -> None:
    samples = Samples()
    for value in range(1, 10_001):  # more than one bulk flush, and a partial buffer at the end
        samples.add(value)
    stats = histogram.summarize(samples.finish())
    assert stats.count == 10_000
    assert 0.999 <= stats.max_ms / 10.0 <= 1.001


def test_recorder_counts_every_error_class_and_requests_add_up() -> None:
    recorder = EndpointRecorder()
    assert list(recorder.errors) == list(ERROR_CLASSES) and recorder.service is None
    recorder.ok, recorder.errors["timeout"], recorder.errors["status"] = 5, 2, 1
    assert recorder.requests == 8
    assert EndpointRecorder(open_loop=True).service is not None
