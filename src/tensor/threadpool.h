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

/* Stops the default pool's threads (tests call it so leak checkers stay quiet). */
void oma_threads_shutdown(void);

#endif
