"""Synthetic Kineto-style traces for the merge and diff tests, whose truth is
known exactly: ranks running the same collectives with skewed clocks, and
before/after runs whose kernels changed by a known amount.

Times are integer nanoseconds here and written as microseconds with three
decimals, relative to baseTimeNanoseconds, as torch.profiler writes them.
"""
import gzip
import json
import random


def us(ns):
    """ns as Kineto's microseconds text: exact, three decimals."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


class Trace:
    """A trace being built: events in absolute ns, written relative to a
    base of whole seconds (as Kineto does) on this trace's own clock."""

    def __init__(self, pid, rank=None, world_size=None, skew_ns=0):
        self.pid, self.rank, self.world_size, self.skew = pid, rank, world_size, skew_ns
        self.events = []  # (dict without ts/dur, true start ns, dur ns or None)
        self.corr = 0

    def add(self, ev, start_ns, dur_ns=None):
        self.events.append((ev, start_ns, dur_ns))

    def launch(self, kernel, start_ns, dur_ns, launch_ns=None, tid=None, stream=7, stack=None,
               device=0):
        """A cudaLaunchKernel, its flow pair and its kernel."""
        self.corr += 1
        c = self.corr
        t0 = start_ns - 5000 if launch_ns is None else launch_ns
        args = {"correlation": c, "cbid": 211}
        if stack is not None:
            args["Call stack"] = stack
        tid = self.pid if tid is None else tid
        self.add({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": self.pid,
                  "tid": tid, "args": args}, t0, 3000)
        self.add({"ph": "s", "id": c, "pid": self.pid, "tid": tid, "cat": "ac2g", "name": "ac2g"},
                 t0)
        self.add({"ph": "X", "cat": "kernel", "name": kernel, "pid": device, "tid": stream,
                  "args": {"correlation": c, "device": device, "stream": stream}},
                 start_ns, dur_ns)
        self.add({"ph": "f", "id": c, "pid": device, "tid": stream, "cat": "ac2g", "name": "ac2g",
                  "bp": "e"}, start_ns)

    def range(self, cat, name, start_ns, dur_ns, pid=None, tid=None):
        pid = self.pid if pid is None else pid
        self.add({"ph": "X", "cat": cat, "name": name, "pid": pid,
                  "tid": self.pid if tid is None else tid, "args": {}}, start_ns, dur_ns)

    def base(self):
        first = min(s for _, s, _ in self.events) + self.skew
        return first - first % 1_000_000_000

    def text(self):
        base = self.base()
        out = ['"schemaVersion": 1']
        if self.rank is not None:
            out.append(f'"distributedInfo": {{"backend": "nccl", "rank": {self.rank}, '
                       f'"world_size": {self.world_size}}}')
        out.append(f'"baseTimeNanoseconds": {base}')
        evs = [json.dumps({"name": "process_name", "ph": "M", "pid": self.pid, "tid": 0,
                           "args": {"name": "python3"}})]
        for ev, start, dur in self.events:
            body = json.dumps(ev)[1:-1]
            times = f'"ts": {us(start + self.skew - base)}'
            if dur is not None:
                times += f', "dur": {us(dur)}'
            evs.append("{" + body + ", " + times + "}")
        out.append('"traceEvents": [\n' + ",\n".join(evs) + "\n]")
        return "{" + ",\n".join(out) + "}\n"

    def write(self, path):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            f.write(self.text())


NCCL = "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)"
GEMM = "void gemm_kernel<float, 128>(Params)"


def ranks(skews_ns, iterations=40, t0=1_790_000_000_123_456_789, seed=7):
    """One Trace per rank: each iteration a GEMM of its own length, then an
    all-reduce that every rank enters at its own time and that ends at the
    same instant everywhere (within a microsecond).  Returns the traces and,
    per rank, the true (not skewed) start of each of its kernels by name."""
    rnd = random.Random(seed)
    traces = [Trace(pid=1000 + r, rank=r, world_size=len(skews_ns), skew_ns=s)
              for r, s in enumerate(skews_ns)]
    t = t0
    for _ in range(iterations):
        end = t + 400_000 + rnd.randrange(50_000)
        for tr in traces:
            gemm = 100_000 + rnd.randrange(150_000)
            tr.launch(GEMM, t, gemm)
            enter = t + gemm + 2_000
            tr.launch(NCCL, enter, end + rnd.randrange(-800, 800) - enter)
        t = end + 200_000
    return traces


def changed_runs(before, after):
    """Two single-process traces whose kernels ran as given: {name: (calls,
    ns each)} per side."""
    out = []
    for spec in (before, after):
        tr = Trace(pid=4242)
        t = 1_790_000_000_000_000_000
        for name, (calls, each) in spec.items():
            for _ in range(calls):
                tr.launch(name, t, each)
                t += each + 10_000
        out.append(tr)
    return out
