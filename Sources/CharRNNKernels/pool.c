// See include/charrnn_kernels.h: the library's one pool of worker threads. This comment is its policy,
// written here once.
//
// Size. One thread per CPU this process may run on (its affinity mask when the pool starts), at most
// CRNN_MAX_PARTS, the calling thread included: crnn_pool_parts(). Work whose result depends on how it is
// split (training's batch parts) is planned for that many parts whatever threads actually run, so the
// result never depends on them: a child of fork() has no workers, and pthread_create may fail.
//
// Users. Generation: the larger batch-1 products, split by panels (crnn_sum_products), and a small
// model's recurrent term computed ahead on one worker while the session goes on (crnn_async_post, for
// Generation/ComputingAhead.swift). Training and its validation: a batch's parts, forward and backward,
// then the shares of the weight gradients (crnn_parallel_for, from ParallelGraph through WorkerPool.swift).
// Nothing else in the library starts threads; OpenBLAS has its own (below).
//
// One job at a time, process-wide. A caller whose job cannot have the workers (another thread's job
// holds them) runs all of it alone, so any number of threads may call in at once; every job gives the
// same bits however it was split and whichever threads ran it.
//
// Waiting. A character of a 2x512 LSTM is about 100 µs of work and of a 2x128 one under 10 µs, in a few
// products of a few dozen µs or less; handing those to a BLAS thread that sched_yield()s costs as much
// as the product. So the workers spin for a short while after each job, where the next one comes within
// microseconds, and only then sleep on a futex. The calling thread always takes part 0. A worker can be
// descheduled (the host has more busy threads than cores): then the caller must not wait a time slice
// for it. Each worker claims a job before it starts; once the caller has done its part, which takes over
// whatever work is left (see crnn_parallel_run), it cancels the claims not yet made and waits only for
// workers that are running. A posted job's worker releases the pool when it is done, so a session left
// idle with a finished product never keeps other threads' jobs off the workers.
//
// The host. Workers take no signals (they are started with every signal blocked) and are named
// "charrnn-worker"; a child of fork() runs every job alone. OpenBLAS's thread count is process-wide
// (Debian's 0.3.21 has no per-thread setting; openblas_set_num_threads_local, from 0.3.27, sets the same
// global count in its pthreads build): the parts of a training batch call BLAS from several threads at
// once, where BLAS's own threads would only compete with them, so WorkerPool.swift sets it to 1 for
// exactly as long as a batch runs and puts back the count it found when the last concurrent batch ends.
// Between batches — in a program's callbacks, in its own code — the program's count holds.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "charrnn_kernels.h"
#include "kernels_internal.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define MAX_WORKERS (CRNN_MAX_PARTS - 1)
/// Tests/c/kernel_check.c widens the window between a job's claims and its publication with a pause.
#ifndef CRNN_POOL_AFTER_CLAIMS
#define CRNN_POOL_AFTER_CLAIMS() ((void)0)
#endif
/// How long an idle worker spins before it sleeps: longer than the gap between two characters of a
/// generation loop, far shorter than anything a user would see.
#define SPIN_NANOSECONDS 200000

enum { CLAIM_POSTED = 0, CLAIM_TAKEN = 1, CLAIM_CANCELLED = 2 };

static struct {
    pthread_mutex_t start_lock;
    _Atomic int started;
    /// crnn_pool_parts(): the CPUs found when the pool started, at most CRNN_MAX_PARTS.
    size_t planned;
    size_t workers;  // threads besides the caller; 0 when the pool cannot or need not start
    /// The futex word: one more per job. Workers wait for it to move.
    _Atomic uint32_t generation;
    /// Jobs posted so far: the current one's number, which its claims carry. 64 bits, so that a claim
    /// never comes round again (the 32-bit generation does, after 2^32 jobs).
    _Atomic uint64_t jobs;
    _Atomic uint32_t sleepers;
    /// fork()s this process has come out of as the child (crnn_async_wait).
    _Atomic uint32_t forks;
    /// Workers yet to finish (or to skip) the current job.
    _Atomic size_t remaining;
    /// Per worker: the number of the job it may claim, shifted left by 2, with a status below.
    _Atomic uint64_t claims[MAX_WORKERS];
    /// Held by the one caller whose job the workers run; others run theirs alone.
    atomic_flag busy;
    crnn_task task;
    void *context;
    size_t parts;
    /// The job in hand when it was posted by crnn_async_post, else NULL.
    crnn_async *async;
} pool = {.start_lock = PTHREAD_MUTEX_INITIALIZER, .busy = ATOMIC_FLAG_INIT};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/// Waits until the generation moves past `seen` and returns the new value.
static uint32_t wait_for_job(uint32_t seen) {
    uint64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        const uint32_t g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if ((spins & 255) != 255) continue;
        const uint64_t now = now_nanoseconds();
        if (deadline == 0) deadline = now + SPIN_NANOSECONDS;
        if (now < deadline) continue;
        // Sleep. Both sides use sequentially consistent operations, so either the caller sees this
        // sleeper and wakes it, or this thread sees the new generation (futex_wait checks it again).
        atomic_fetch_add(&pool.sleepers, 1);
        while (atomic_load(&pool.generation) == seen) futex_wait(&pool.generation, seen);
        atomic_fetch_sub(&pool.sleepers, 1);
        deadline = 0;
    }
}

static void *worker_main(void *argument) {
    const size_t index = (size_t)argument;  // 1 ... workers
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(seen);
        // A worker that comes too late finds its claim cancelled and leaves the job alone: the caller
        // has finished it and may already have posted the next one, whose number it may read here and
        // whose claim it may then take early: a claim is released only once its job is set up.
        uint64_t posted = atomic_load_explicit(&pool.jobs, memory_order_acquire) << 2 | CLAIM_POSTED;
        if (!atomic_compare_exchange_strong(&pool.claims[index - 1], &posted, posted | CLAIM_TAKEN)) continue;
        if (index < pool.parts) pool.task(pool.context, index, pool.parts);
        crnn_async *async = pool.async;  // read while the job still holds the pool
        if (async) {  // nobody waits on `remaining`: release the pool, then tell the poster
            pool.async = NULL;
            atomic_flag_clear_explicit(&pool.busy, memory_order_release);
            __atomic_store_n(&async->done, 1, __ATOMIC_RELEASE);  // its owner may free it from here on
        } else {
            atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_release);
        }
    }
    return NULL;
}

// fork() never lands inside start_pool (the parent holds start_lock across it), and a child of fork()
// has none of the parent's threads: it runs every job alone.
static void lock_before_fork(void) { pthread_mutex_lock(&pool.start_lock); }
static void unlock_after_fork(void) { pthread_mutex_unlock(&pool.start_lock); }
static void forget_workers_after_fork(void) {
    pthread_mutex_init(&pool.start_lock, NULL);
    pool.workers = 0;  // pool.planned stays the parent's: the child plans its work as the parent did
    atomic_store(&pool.started, 1);
    // A job the parent's workers had in hand will not finish here, and none will start.
    atomic_store(&pool.remaining, 0);
    pool.async = NULL;
    atomic_flag_clear(&pool.busy);
    atomic_fetch_add(&pool.forks, 1);
}

static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static void register_fork_handlers(void) {
    pthread_atfork(lock_before_fork, unlock_after_fork, forget_workers_after_fork);
}

static size_t usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return (size_t)CPU_COUNT(&set);
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (size_t)online : 1;
}

static void start_pool(void) {
    pthread_once(&fork_handlers_once, register_fork_handlers);
    pthread_mutex_lock(&pool.start_lock);
    if (!atomic_load(&pool.started)) {
        // No claim starts out posted (job numbers start at 1).
        for (size_t w = 0; w < MAX_WORKERS; w++) atomic_store(&pool.claims[w], (uint64_t)CLAIM_CANCELLED);
        const size_t cpus = usable_cpus();
        pool.planned = cpus < 1 ? 1 : cpus < CRNN_MAX_PARTS ? cpus : CRNN_MAX_PARTS;
        const size_t wanted = pool.planned - 1;
        // Workers take no signals: the host's handlers run on the host's threads.
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        size_t started = 0;
        for (; started < wanted; started++) {
            pthread_t thread;
            pthread_attr_t attributes;
            pthread_attr_init(&attributes);
            pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
            const int failed = pthread_create(&thread, &attributes, worker_main, (void *)(started + 1));
            pthread_attr_destroy(&attributes);
            if (failed) break;  // run with the workers there are
            pthread_setname_np(thread, "charrnn-worker");
        }
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        pool.workers = started;
        atomic_store(&pool.started, 1);
    }
    pthread_mutex_unlock(&pool.start_lock);
}

INTERNAL size_t crnn_pool_width(void) {
    if (!atomic_load_explicit(&pool.started, memory_order_acquire)) start_pool();
    return pool.workers + 1;
}

INTERNAL size_t crnn_pool_parts(void) {
    if (!atomic_load_explicit(&pool.started, memory_order_acquire)) start_pool();
    return pool.planned;
}

/// A posted crnn_async's task, run whole by the worker that claims it.
static void async_part(void *context, size_t part, size_t parts) {
    (void)part;
    (void)parts;
    crnn_async *job = context;
    job->task(job->context, 0, 1);
}

/// The number of the job about to be posted. Only the holder of `busy` posts, so it is known before the
/// generation publishes it (workers read it after seeing the generation move).
static uint64_t next_job(void) {
    const uint64_t number = atomic_load_explicit(&pool.jobs, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.jobs, number, memory_order_relaxed);
    return number;
}

INTERNAL void crnn_parallel_run(crnn_task task, void *context, size_t max_parts) {
    const size_t width = crnn_pool_width();
    const size_t parts = max_parts < width ? max_parts : width;
    if (parts <= 1 || atomic_flag_test_and_set_explicit(&pool.busy, memory_order_acquire)) {
        task(context, 0, 1);  // alone: the pool is in use by another thread, or not worth it
        return;
    }
    pool.task = task;
    pool.context = context;
    pool.parts = parts;
    const uint64_t posted = next_job() << 2 | CLAIM_POSTED;
    // Only the workers with a part get a claim; the others find theirs stale and leave the job alone.
    const size_t helpers = parts - 1;
    // The count before the claims, which release the job: a worker late for the last job can read this
    // one's number and take its claim before the generation moves (it then just starts early), so the
    // job and its count must be set by then, or its decrement would come before the count and the
    // caller would wait for it forever.
    atomic_store_explicit(&pool.remaining, helpers, memory_order_relaxed);
    for (size_t w = 0; w < helpers; w++) atomic_store_explicit(&pool.claims[w], posted, memory_order_release);
    CRNN_POOL_AFTER_CLAIMS();
    atomic_fetch_add(&pool.generation, 1);  // publishes the job (sequentially consistent, see wait_for_job)
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.generation);
    task(context, 0, parts);
    for (size_t w = 0; w < helpers; w++) {  // workers that have not started will not
        uint64_t expected = posted;
        if (atomic_compare_exchange_strong(&pool.claims[w], &expected, posted | CLAIM_CANCELLED))
            atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_relaxed);
    }
    for (unsigned spins = 0; atomic_load_explicit(&pool.remaining, memory_order_acquire) != 0; spins++) {
        cpu_relax();
        if ((spins & 4095) == 4095) sched_yield();  // a worker was descheduled: let it run
    }
    atomic_flag_clear_explicit(&pool.busy, memory_order_release);
}

/// crnn_parallel_for's job: items handed out one at a time from a shared counter, so any one part
/// finishes the whole job when the others never run.
typedef struct {
    _Atomic size_t next;
    size_t count;
    crnn_item_task item;
    void *context;
} item_job;

static void item_part(void *context, size_t part, size_t parts) {
    (void)part;
    (void)parts;
    item_job *job = context;
    for (;;) {
        const size_t index = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (index >= job->count) return;
        job->item(job->context, index);
    }
}

INTERNAL void crnn_parallel_for(size_t count, crnn_item_task item, void *context) {
    if (count == 0) return;
    item_job job = {.count = count, .item = item, .context = context};
    atomic_init(&job.next, 0);
    crnn_parallel_run(item_part, &job, count);
}

// Asynchronous jobs: the caller's part is empty and it returns at once. Worker 1 is the one whose claim
// is posted; crnn_async_wait takes the job back when that claim is still untaken.

INTERNAL void crnn_async_post(crnn_async *job, crnn_task task, void *context) {
    job->task = task;
    job->context = context;
    job->posted = 0;
    job->forks = atomic_load(&pool.forks);
    __atomic_store_n(&job->done, 0, __ATOMIC_RELAXED);
    if (crnn_pool_width() < 2 || atomic_flag_test_and_set_explicit(&pool.busy, memory_order_acquire)) {
        task(context, 0, 1);  // no worker to be had: done by the time this returns
        return;
    }
    pool.task = async_part;
    pool.context = job;
    pool.parts = 2;
    pool.async = job;
    job->posted = next_job() << 2 | CLAIM_POSTED;  // never 0: job numbers start at 1
    // Released: a worker late for the last job may take it before the generation moves (see above).
    atomic_store_explicit(&pool.claims[0], job->posted, memory_order_release);
    atomic_fetch_add(&pool.generation, 1);  // publishes the job (sequentially consistent, see wait_for_job)
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.generation);
}

INTERNAL void crnn_async_wait(crnn_async *job) {
    const uint64_t posted = job->posted;
    if (posted == 0) return;
    job->posted = 0;
    if (job->forks != atomic_load(&pool.forks)) {  // posted in the parent: its worker may have left it half done
        job->task(job->context, 0, 1);
        return;
    }
    if (__atomic_load_n(&job->done, __ATOMIC_ACQUIRE)) return;  // the worker has done it and released the pool
    uint64_t expected = posted;
    if (atomic_compare_exchange_strong(&pool.claims[0], &expected, posted | CLAIM_CANCELLED)) {
        job->task(job->context, 0, 1);  // the worker has not started it: do it here, and release the pool
        pool.async = NULL;
        atomic_flag_clear_explicit(&pool.busy, memory_order_release);
        return;
    }
    for (unsigned spins = 0; !__atomic_load_n(&job->done, __ATOMIC_ACQUIRE); spins++) {
        cpu_relax();
        if ((spins & 4095) == 4095) sched_yield();  // the worker was descheduled mid-job: let it run
    }
}
