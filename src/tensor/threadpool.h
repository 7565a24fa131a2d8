/* threadpool.h — a small pthread pool for the CPU kernels.
 *
 * The kernels split a range [0, n) into contiguous pieces and run one piece per thread, the
 * calling thread included. Workers sleep on a condition variable between jobs (no spinning),
 * so they do not fight OpenBLAS's own threads, which run while our pool is idle. The pool is
 * used by one caller at a time: a second caller (another server worker, or a nested call)
 * simply runs its range serially on its own thread, which is correct and never deadlocks.
 * Size: OMA_THREADS, else the number of online CPUs.
 */
#ifndef OMA_TENSOR_THREADPOOL_H
#define OMA_TENSOR_THREADPOOL_H

#include <stdint.h>

typedef void (*oma_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Threads the default pool uses (>= 1). The pool starts on first use. */
int oma_threads(void);

/* Runs fn over [0, n) split into at most oma_threads() pieces of at least `grain` items.
 * Returns when every piece is done. */
void oma_parallel_for(int64_t n, int64_t grain, oma_range_fn fn, void *ctx);

/* Runs task(ctx, i) for every i in [0, n) on up to oma_threads() threads (the caller and
 * threads started for this call), each taking the next task as it finishes one, and returns
 * when all are done. For work made of independent pieces too small to split well inside
 * (pose: one person's models): inside the tasks oma_parallel_for runs on the calling thread
 * alone and oma_threads_here() is 1, so the cores do not wait on each other. With one task,
 * one thread, or when no thread can be started, the caller runs them in order as usual. */
typedef void (*oma_task_fn)(void *ctx, int64_t i);
void oma_parallel_tasks(int64_t n, oma_task_fn task, void *ctx);

/* Threads the calling thread's kernels may use: 1 inside oma_parallel_tasks, else
 * oma_threads(). */
int oma_threads_here(void);

/* Stops the default pool's threads (tests call it so leak checkers stay quiet). */
void oma_threads_shutdown(void);

#endif
