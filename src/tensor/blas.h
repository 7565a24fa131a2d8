/* blas.h — getting OpenBLAS to run at full speed inside our process.
 *
 * Three pitfalls on the build machines: OPENBLAS_CORETYPE=Haswell in the environment makes
 * OpenBLAS pick AVX2 kernels on an AVX-512 CPU (about half speed); OpenBLAS reads it in its
 * library constructor, before main, so a program must drop it and re-execute itself to fix it;
 * and the pthread build of OpenBLAS keeps its own threads, which must match our pool size.
 */
#ifndef OMA_TENSOR_BLAS_H
#define OMA_TENSOR_BLAS_H

/* Sets OpenBLAS's thread count to oma_threads() once (idempotent, thread-safe). */
void oma_blas_init(void);
/* Sets OpenBLAS's thread count when it differs from the last one set (cheap to call often). */
void oma_blas_set_threads(int n);

/* If OPENBLAS_CORETYPE is set and OMA_KEEP_CORETYPE is not, unsets it and re-executes the
 * running program with the same arguments (from /proc/self/cmdline). Returns only when no
 * re-exec was needed or it failed (then the program goes on at reduced speed). Call it first
 * thing in main() of programs that do heavy math (the CLI generate command, benchmarks). */
void oma_blas_fix_coretype(void);

/* OpenBLAS's description of the kernels it chose ("SkylakeX", "Haswell", ...). */
const char *oma_blas_corename(void);

#endif
