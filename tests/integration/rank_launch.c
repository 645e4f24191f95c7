/*
 * rank_launch: one rank of a job, for tests/integration/test_cluster.py.
 *
 *   rank_launch [GATE_DIR]
 *
 * Takes its rank R from the launcher (MPI_Comm_rank when built with MPI,
 * else OMPI_COMM_WORLD_RANK, SLURM_PROCID, PMIX_RANK, PMI_RANK or RANK) and
 * launches the kernel rank_step 10 * (R + 1) times, so that each rank's
 * trace is told apart by its count.  With GATE_DIR it waits for the file
 * GATE_DIR/go before launching, writes GATE_DIR/launched.R after, and waits
 * for GATE_DIR/exit before it ends: the test starts and stops profiling
 * around the launches.  Built with WITH_MPI it is an MPI program
 * (MPI_Init, an MPI_Allreduce of the launches, MPI_Finalize).
 */
#include <cuda.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef WITH_MPI
#include <mpi.h>
#endif

#include "common.h"

static const char ptx[] = PTX_HEADER PTX_KERNEL("rank_step");

static int env_rank(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "SLURM_PROCID", "PMIX_RANK",
                                        "PMI_RANK", "RANK"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

/* Waits up to 60 s for DIR/NAME; whether it appeared. */
static int wait_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 6000; i++) {
        if (access(path, F_OK) == 0)
            return 1;
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "rank_launch: no %s after 60 s\n", path);
    return 0;
}

static int touch(const char *dir, const char *name, int rank)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%d", dir, name, rank);
    FILE *f = fopen(path, "w");
    return f && fclose(f) == 0;
}

int main(int argc, char **argv)
{
    const char *gate = argc > 1 ? argv[1] : NULL;
    int rank = env_rank(), size = 1;
#ifdef WITH_MPI
    MPI_Init(&argc, &argv);
    int env = rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (env != rank) {
        fprintf(stderr, "rank_launch: MPI rank %d, launcher's variable %d\n", rank, env);
        return 1;
    }
#endif
    CUfunction f;
    CHECK(load_kernel(ptx, "rank_step", &f));
    if (gate && !wait_file(gate, "go"))
        return 1;
    int launches = 10 * (rank + 1);
    for (int i = 0; i < launches; i++)
        CHECK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    CHECK(cuCtxSynchronize());
    if (gate && !touch(gate, "launched", rank))
        return 1;
    int total = launches;
#ifdef WITH_MPI
    MPI_Allreduce(&launches, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
#endif
    if (gate && !wait_file(gate, "exit"))
        return 1;
#ifdef WITH_MPI
    MPI_Finalize();
#endif
    printf("rank_launch: rank=%d size=%d launches=%d total=%d\n", rank, size, launches, total);
    return 0;
}
