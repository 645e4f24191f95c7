#!/usr/bin/env python3
"""Integration tests of jobs of many ranks: four Open MPI ranks under mpirun
and four Slurm tasks under srun (on a one-node Slurm cluster this test
configures and starts in a directory of its own: munged, slurmctld, slurmd),
each `omniprof run` of tests/integration/rank_launch, which launches
10 * (rank + 1) kernels.  Each rank's registry entry carries its rank, world
size, local rank, host and job while it runs (`omniprof list`, `status`);
profiling is started and stopped from outside (`omniprof start/stop` for
mpirun, `scancel --signal=USR1 JOB.STEP` twice for Slurm); each rank writes
exactly one trace, named and annotated with its rank (distributedInfo) and
holding its own count of launches; `omniprof merge` puts the four on one
timeline, every event once, each process named by its rank, host and pid.

Open MPI and Slurm come from Debian's packages (openmpi-bin, libopenmpi-dev;
slurmctld, slurmd, slurm-client, munge), which `./run.sh test` installs; a
test whose tools are missing is skipped, naming them."""
import collections
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from helpers import (CLI, base_env, binary, entries, load, per_kernel, trace_dir, traces,
                     wait_for)
from test_merge import contents, process_names

RANKS = 4
# what a launcher inside which these tests may run would hand down
LAUNCHER_PREFIXES = ("SLURM_", "OMPI_", "PMIX_", "PMI_")
LAUNCHER_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID")


def job_env(**extra):
    """base_env with the fake CUPTI on (GPU records per rank), and none of
    the launcher variables of whatever runs the tests."""
    env = {k: v for k, v in base_env(OMNIPROF_CUPTI="true").items()
           if not k.startswith(LAUNCHER_PREFIXES) and k not in LAUNCHER_NAMES}
    env.update(extra)
    return env


def cli(*args, env=None):
    return subprocess.run([CLI, *args], env=env or job_env(), capture_output=True, text=True,
                          timeout=60)


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)


class Ranks:
    """What both launchers must give: the test of one job of RANKS ranks.
    A subclass says how to start it (start_job), how to start and stop
    profiling (toggle) and which job the ranks belong to (job_of)."""

    def start_job(self, out, gate):
        raise NotImplementedError

    def toggle(self, job, start):
        raise NotImplementedError

    def job_of(self, pid):
        raise NotImplementedError

    def job_entries(self, gate):
        """The registry entries of this job's ranks (their command names gate)."""
        return {pid: e for pid, e in entries().items() if gate in e.get("cmdline", "")}

    def run_job(self):
        out = trace_dir(self, "omniprof-cluster-")
        gate = tempfile.mkdtemp(prefix="omniprof-gate-")
        self.addCleanup(shutil.rmtree, gate, True)
        job = self.start_job(out, gate)
        self.addCleanup(self.stop_job, job)

        def states(want):
            e = self.job_entries(gate)
            return e if len(e) == RANKS and all(x["state"] == want for x in e.values()) else None

        # each rank registered: rank, world size, local rank, host, job
        ents = wait_for(lambda: states("idle"), timeout=60)
        host = socket.gethostname()
        by_rank = {e["rank"]: pid for pid, e in ents.items()}
        self.assertEqual(sorted(by_rank), list(range(RANKS)))
        jobs = {e["job"] for e in ents.values()}
        self.assertEqual(len(jobs), 1, jobs)
        job_id = jobs.pop()
        for pid, e in ents.items():
            self.assertEqual((e["world_size"], e["local_rank"], e["host"]),
                             (RANKS, e["rank"], host), e)
            self.assertEqual(self.job_of(pid), job_id)
        # shown by omniprof list (RANK and JOB columns) and status
        r = cli("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0].split()[:5],
                         ["PID", "STAGE", "RANK", "JOB", "STATE"])
        rows = {int(line.split()[0]): line.split() for line in r.stdout.splitlines()[1:]
                if line.split()[0].isdigit()}
        for pid, e in ents.items():
            self.assertEqual(rows[pid][1:6], ["-", str(e["rank"]), job_id, "idle", host])
        pid = by_rank[2]
        r = cli("status", str(pid))
        self.assertRegex(r.stdout, rf"(?m)^rank: +2 of {RANKS}, local rank 2$")
        self.assertRegex(r.stdout, rf"(?m)^job: +{re.escape(job_id)}$")
        self.assertRegex(r.stdout, rf"(?m)^host: +{re.escape(host)}$")

        # started from outside, the ranks launch, stopped from outside
        self.toggle(job_id, start=True)
        wait_for(lambda: states("recording"), timeout=30)
        open(os.path.join(gate, "go"), "w").close()
        wait_for(lambda: len([f for f in os.listdir(gate) if f.startswith("launched.")]) == RANKS,
                 timeout=60)
        self.toggle(job_id, start=False)
        wait_for(lambda: states("idle") and len(traces(out)) == RANKS, timeout=60)
        open(os.path.join(gate, "exit"), "w").close()
        stdout = self.end_job(job)
        self.assertEqual(sorted(re.findall(r"rank_launch: rank=(\d+)", stdout)),
                         [str(r) for r in range(RANKS)], stdout)

        # exactly one trace per rank, named and annotated with it
        files = traces(out)
        self.assertEqual(len(files), RANKS, files)
        for path in files:
            m = re.fullmatch(r".*_(\d+)_rank(\d+)\.\d+\.pt\.trace\.json\.gz", path)
            self.assertTrue(m, path)
            pid, rank = int(m.group(1)), int(m.group(2))
            self.assertEqual(by_rank[rank], pid)
            t = load(path)
            self.assertEqual(t["distributedInfo"],
                             {"rank": rank, "world_size": RANKS, "local_rank": rank})
            o = t["omniprof"]
            self.assertEqual((o["rank"], o["pid"], o["host"], o["job"]), (rank, pid, host, job_id))
            n = 10 * (rank + 1)
            self.assertEqual(per_kernel(t), {"rank_step": n}, path)
            kernels = collections.Counter(e["name"] for e in t["traceEvents"]
                                          if e.get("ph") == "X" and e.get("cat") == "kernel")
            self.assertEqual(kernels, {"rank_step": n}, path)

        # one timeline: every event of every input once, each process named
        merged = os.path.join(gate, "job.json.gz")
        r = subprocess.run([CLI, "merge", out, "-o", merged], env=job_env(), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = load(merged)
        ins = {path: load(path) for path in files}
        self.assertEqual(contents(m), sum((contents(t) for t in ins.values()),
                                          collections.Counter()))
        names = collections.Counter(v[0] for v in process_names(m).values())
        for rank, pid in by_rank.items():
            self.assertEqual(names[f"rank {rank} · {host} · {pid}"], 1, names)
            self.assertEqual(names[f"GPU 0 (rank {rank}, {host}, {pid})"], 1, names)
        recs = {rec["rank"]: rec for rec in m["mergedInputs"]}
        self.assertEqual(sorted(recs), list(range(RANKS)))
        for rank, rec in recs.items():
            self.assertEqual((rec["pid"], rec["host"], rec["job"], rec["world_size"],
                              rec["local_rank"]), (by_rank[rank], host, job_id, RANKS, rank))
        kernels = collections.Counter(e["pid"] for e in m["traceEvents"]
                                      if e.get("ph") == "X" and e.get("cat") == "kernel")
        self.assertEqual(sorted(kernels.values()), [10 * (r + 1) for r in range(RANKS)])


class OpenMPI(Ranks, unittest.TestCase):
    """mpirun -np 4 omniprof run -o DIR -- rank_launch_mpi: an MPI program
    (MPI_Init, MPI_Allreduce, MPI_Finalize) under the preload, toggled by
    `omniprof start/stop` on the host, or by SIGUSR1 to mpirun, which
    forwards it to every rank."""

    via = None  # "omniprof" or "mpirun"

    @classmethod
    def setUpClass(cls):
        # Debian's own name for it, whichever MPI the alternatives prefer
        cls.mpirun = shutil.which("mpirun.openmpi") or shutil.which("mpirun")
        if not cls.mpirun:
            raise unittest.SkipTest("mpirun not found: install openmpi-bin (./run.sh test does)")
        cls.program = binary("rank_launch_mpi")
        if not os.path.exists(cls.program):
            raise unittest.SkipTest("rank_launch_mpi was not built: CMake found no MPI "
                                    "(install libopenmpi-dev and configure again)")

    def start_job(self, out, gate):
        cmd = [self.mpirun, "-np", str(RANKS), "--oversubscribe"]
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        # what the ranks must be given on other hosts (here they inherit it)
        for name in ("LD_LIBRARY_PATH", "OMNIPROF_RUNTIME_DIR", "OMNIPROF_CUPTI"):
            cmd += ["-x", name]
        cmd += [CLI, "run", "-o", out, "--", self.program, gate]
        self.job = subprocess.Popen(cmd, env=job_env(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        return self.job

    def toggle(self, job, start):
        if self.via == "mpirun":
            self.job.send_signal(signal.SIGUSR1)
            return
        r = cli("start" if start else "stop", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.startswith("pid ")]
        self.assertEqual(len(lines), RANKS, r.stdout)
        for line in lines:
            self.assertRegex(line, r"^pid \d+ \(stage -, rank \d\): " +
                             ("recording$" if start else r"wrote \d+ events$"))
        if not start:
            self.assertEqual(len(re.findall(r"(?m)^  /\S+\.pt\.trace\.json\.gz$", r.stdout)),
                             RANKS, r.stdout)

    def job_of(self, pid):
        return environ_of(pid)[b"OMPI_MCA_ess_base_jobid"].decode()

    def end_job(self, p):
        stdout, stderr = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, stdout + stderr)
        return stdout

    def stop_job(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def test_omniprof_start_stop_on_the_host(self):
        self.via = "omniprof"
        self.run_job()

    def test_sigusr1_to_mpirun(self):
        self.via = "mpirun"
        self.run_job()


class Slurm(Ranks, unittest.TestCase):
    """srun -n 4 omniprof run -o DIR -- rank_launch on a one-node cluster of
    this test's own: in a batch job (sbatch) toggled with
    `scancel --signal=USR1 JOB.STEP`, or srun in the background toggled by
    SIGUSR1 to srun, which forwards it to every task."""

    TOOLS = ("munged", "slurmctld", "slurmd", "srun", "sbatch", "scancel", "squeue", "sinfo",
             "scontrol")
    via = None  # "sbatch" or "srun"

    @classmethod
    def setUpClass(cls):
        missing = [t for t in cls.TOOLS if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest(f"{', '.join(missing)} not found: install slurmctld slurmd "
                                    "slurm-client munge (./run.sh test does)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("the test's slurmd runs as root (SlurmdUser=root: it starts "
                                    "each task as the job's user), which needs the tests run "
                                    "as root")
        cls.dir = tempfile.mkdtemp(prefix="omniprof-slurm-")
        cls.daemons = []
        try:
            cls.start_cluster()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_cluster(cls):
        d = cls.dir
        sock = os.path.join(d, "munge.socket")
        key = os.path.join(d, "munge.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(128))
        os.close(fd)
        cls.daemon(["munged", "--foreground", "--force", f"--socket={sock}",
                    f"--key-file={key}", f"--pid-file={d}/munged.pid",
                    f"--seed-file={d}/munged.seed", f"--log-file={d}/munged.log"], "munged")
        wait_for(lambda: os.path.exists(sock), timeout=10)
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        host = socket.gethostname().split(".")[0]
        user = pwd.getpwuid(os.geteuid()).pw_name
        cpus = os.cpu_count() or 1
        os.makedirs(os.path.join(d, "state"))
        os.makedirs(os.path.join(d, "spool"))
        conf = os.path.join(d, "slurm.conf")
        with open(conf, "w") as f:
            f.write(f"""\
ClusterName=omniprof
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        cls.env = job_env(SLURM_CONF=conf)
        cls.daemon(["slurmctld", "-D", "-f", conf], "slurmctld")
        cls.daemon(["slurmd", "-D", "-f", conf, "-N", host], "slurmd")

        def idle():
            r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=cls.env,
                               capture_output=True, text=True, timeout=30)
            return r.stdout.strip() == "idle"

        try:
            wait_for(idle, timeout=60)
        except AssertionError:
            raise AssertionError("the Slurm node did not become idle in 60 s:\n" + cls.logs())

    @classmethod
    def daemon(cls, cmd, name):
        log = open(os.path.join(cls.dir, f"{name}.out"), "w")
        cls.daemons.append((name, subprocess.Popen(cmd, cwd=cls.dir, stdin=subprocess.DEVNULL,
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   env=job_env()), log))

    @classmethod
    def logs(cls):
        text = ""
        for name in ("slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log", "munged.log"):
            path = os.path.join(cls.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f"--- {name}\n" + "".join(f.readlines()[-20:])
        return text

    @classmethod
    def tearDownClass(cls):
        # slurmd first (its steps end with it), then slurmctld, then munged
        for name, p, log in reversed(cls.daemons):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        shutil.rmtree(cls.dir, True)

    def slurm(self, *cmd):
        r = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"{cmd}: {r.stdout}{r.stderr}\n{self.logs()}")
        return r.stdout

    def start_job(self, out, gate):
        # --overcommit: more tasks than the node has CPUs
        srun = ["srun", "-n", str(RANKS), "--overcommit", CLI, "run", "-o", out, "--",
                binary("rank_launch"), gate]
        if self.via == "srun":
            self.job = subprocess.Popen(srun, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
            return self.job
        self.out_file = os.path.join(gate, "slurm.out")
        self.job = self.slurm("sbatch", "--parsable", "-n", str(RANKS), "--overcommit", "-o",
                              self.out_file, "--wrap", shlex.join(srun)).strip()
        return self.job

    def toggle(self, job, start):
        if self.via == "srun":
            self.job.send_signal(signal.SIGUSR1)
        else:
            self.slurm("scancel", "--signal=USR1", job)

    def job_of(self, pid):
        e = environ_of(pid)
        job = f"{e[b'SLURM_JOB_ID'].decode()}.{e[b'SLURM_STEP_ID'].decode()}"
        steps = self.slurm("squeue", "-h", "-s", "-o", "%i").split()
        self.assertIn(job, steps, "the registry names the step squeue shows")
        if self.via == "sbatch":
            self.assertEqual(job, f"{self.job}.0", "the batch script's first step")
        return job

    def job_state(self, job):
        text = self.slurm("scontrol", "show", "job", job)
        return dict(re.findall(r"(JobState|ExitCode)=(\S+)", text))

    def end_job(self, job):
        if self.via == "srun":
            stdout, stderr = job.communicate(timeout=60)
            self.assertEqual(job.returncode, 0, stdout + stderr)
            return stdout
        state = wait_for(lambda: (lambda s: s if s["JobState"] not in ("PENDING", "RUNNING",
                                                                     "COMPLETING") else None)(
            self.job_state(job)), timeout=60)
        with open(self.out_file, errors="replace") as f:
            stdout = f.read()
        self.assertEqual(state, {"JobState": "COMPLETED", "ExitCode": "0:0"}, stdout)
        return stdout

    def stop_job(self, job):
        if self.via == "srun" and job.poll() is None:
            job.kill()
            job.communicate()
        subprocess.run(["scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name],
                       env=self.env, capture_output=True, timeout=30)

    def test_sbatch_toggled_by_scancel(self):
        self.via = "sbatch"
        self.run_job()

    def test_srun_toggled_by_sigusr1(self):
        self.via = "srun"
        self.run_job()


if __name__ == "__main__":
    unittest.main()
