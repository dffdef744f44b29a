"""The probe engine: HTTP load against one service, one endpoint after another.

Entry point: :func:`perf_profiler.engine.runner.run_probe`. For every endpoint of a
:class:`~perf_profiler.model.targets.Service`, ``warmup`` uncounted requests run first (closed
loop), then the counted phase in one of two load models (``LoadSettings.model``):

* **closed** (``closed_loop``) -- a fixed pool of ``concurrency`` workers, each sending its next
  request as soon as its previous one returned, until ``requests`` were sent or ``duration_s``
  has passed (what hey, ab and Locust do). A closed loop stops sending while the server stalls,
  so a stall hits only ``concurrency`` requests and vanishes from the percentiles (*coordinated
  omission*).
* **open** (``open_loop``) -- ``rate`` arrivals per second on a fixed timeline for ``duration_s``
  (like wrk2 -R or k6's constant-arrival-rate), latency measured from the *intended* send time;
  a send due while ``concurrency`` requests are in flight is dropped and counted, never
  silently skipped.

**Client saturation** (``saturation``): the generator measures its own scheduling lag and flags
results whose tail it shapes itself. **Processes** (``processes``): ``LoadSettings.processes = K
> 1`` spreads one service's load over K spawned processes whose parts merge exactly.

Every outcome is data (as in Vegeta's results.go): a 500, a timeout or a refused connection is
classified (``classify``), counted and timed, never raised. Latencies (``time.perf_counter_ns``)
go into HDR histograms in microseconds -- buffered and recorded in bulk (``recorders``), so the
hot path stays a few list appends; the result (``results``; types in ``model.result``) carries
the encoded histograms, so its size does not grow with the number of requests.

**Cancellation** (``cancel``): SIGTERM/SIGINT stop sending and let in-flight requests finish;
the caller chooses between failing (``on_cancel="raise"``, the task) and keeping what was
measured (``"partial"``, the CLI). **Live progress** (``progress``): a snapshot of the phase in
progress, read by displays a few times a second, nothing added per request.

**Engines** (``engine_choice``): the *fast* engine (``fast_protocol``, ``fast_exchange``,
``fast_closed``, ``fast_open``, ``wakeup``: one asyncio.Protocol per keep-alive connection,
httptools parsing) probes plain ``http://`` services by default; *aiohttp* (``exchange``) probes
TLS services and follows every redirect. Both send the one request ``canonical`` defines and
record into the same recorders, classes and result.

Modules, bottom up: ``cancel`` · ``classify`` · ``plan`` (share, per-endpoint plan, gates) · ``recorders`` ·
``canonical`` (the request) · ``exchange`` (one aiohttp exchange, the session) · ``closed_loop`` ·
``open_loop`` · the fast engine · ``engine_choice`` · ``saturation`` · ``progress`` · ``results`` · ``probe`` (one
service in this process) · ``processes`` · ``runner``.
"""
