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

/* If OPENBLAS_CORETYPE is set and OMA_KEEP_CORETYPE is not, unsets it; if OMP_WAIT_POLICY is
 * not set, sets it to "passive" (oneDNN's OpenMP threads otherwise spin for a while after each
 * convolution/matmul, against our own pool's threads: measured on the SD 1.5 UNet, 2 threads,
 * bf16 mode 17.1 -> 13.9 s CPU, fp32 20.1 -> 18.9 s); both are read when the libraries load,
 * so it then re-executes the running program with the same arguments (from
 * /proc/self/cmdline). Returns only when no re-exec was needed or it failed (then the program
 * goes on at reduced speed). Call it first thing in main() of programs that do heavy math (the
 * CLI generate command, the server, benchmarks). */
void oma_blas_fix_coretype(void);

/* OpenBLAS's description of the kernels it chose ("SkylakeX", "Haswell", ...). */
const char *oma_blas_corename(void);

#endif
