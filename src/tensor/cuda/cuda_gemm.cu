/* cuda_gemm.cu — row-major GEMM on cuBLASLt. cuBLASLt is column-major, so the row-major
 * C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: swap the operands and
 * M/N, keep the transposes. fp32 accumulation in every storage type (CUBLAS_COMPUTE_32F, with
 * TF32 left off so fp32 mode matches the CPU). STATUS: compiled here; unverified on a GPU. */
#include <cublasLt.h>

#include "tensor/cuda/cuda_internal.cuh"

static cublasLtHandle_t oma_cuda_lt;      /* made on the first GEMM (after oma_cuda_init) */
extern void (*oma_cuda_gemm_shutdown_hook)(void);

static void lt_shutdown(void)
{
    if (oma_cuda_lt) cublasLtDestroy(oma_cuda_lt);
    oma_cuda_lt = NULL;
}

/* (cublasGetStatusString lives in libcublas, which this backend does not link) */
static int lt_fail(cublasStatus_t s, const char *what)
{
    const char *why;
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return 0;
    case CUBLAS_STATUS_ALLOC_FAILED: why = "out of device memory"; break;
    case CUBLAS_STATUS_NOT_INITIALIZED: why = "cuBLASLt not initialised"; break;
    case CUBLAS_STATUS_INVALID_VALUE: why = "cuBLASLt: invalid value (shape or stride)"; break;
    case CUBLAS_STATUS_NOT_SUPPORTED: why = "cuBLASLt: no algorithm for these types/shapes"; break;
    case CUBLAS_STATUS_ARCH_MISMATCH: why = "cuBLASLt: not supported on this device"; break;
    case CUBLAS_STATUS_EXECUTION_FAILED: why = "cuBLASLt: the kernel failed to run"; break;
    default: why = "cuBLASLt error"; break;
    }
    return oma_cuda_fail(what, why);
}

extern "C" int oma_cuda_gemm(oma_cuda_dtype t, int trans_a, int trans_b, int64_t m, int64_t n,
                             int64_t k, float alpha, const void *a, int64_t lda, const void *b,
                             int64_t ldb, float beta, void *c, int64_t ldc)
{
    if (!oma_cuda_lt) {
        if (cublasLtCreate(&oma_cuda_lt) != CUBLAS_STATUS_SUCCESS) {
            oma_cuda_lt = NULL;
            return oma_cuda_fail("cuda: gemm", "cuBLASLt could not start");
        }
        oma_cuda_gemm_shutdown_hook = lt_shutdown;
    }
    cudaDataType_t dt = t == OMA_CUDA_F32 ? CUDA_R_32F : t == OMA_CUDA_F16 ? CUDA_R_16F : CUDA_R_16BF;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    int rc = -1;
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    /* column-major view: C^T[n,m] = op(B)^T[n,k] op(A)^T[k,m]; first operand is B. */
    if (lt_fail(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cuda: gemm") ||
        lt_fail(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &tb, sizeof tb), "cuda: gemm") ||
        lt_fail(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &ta, sizeof ta), "cuda: gemm") ||
        /* B stored row-major [k,n] (or [n,k] transposed) is column-major [n,k] / [k,n] */
        lt_fail(cublasLtMatrixLayoutCreate(&lb, dt, trans_b ? (uint64_t)k : (uint64_t)n,
                                           trans_b ? (uint64_t)n : (uint64_t)k, ldb), "cuda: gemm") ||
        lt_fail(cublasLtMatrixLayoutCreate(&la, dt, trans_a ? (uint64_t)m : (uint64_t)k,
                                           trans_a ? (uint64_t)k : (uint64_t)m, lda), "cuda: gemm") ||
        lt_fail(cublasLtMatrixLayoutCreate(&lc, dt, (uint64_t)n, (uint64_t)m, ldc), "cuda: gemm"))
        goto out;
    if (lt_fail(cublasLtMatmul(oma_cuda_lt, op, &alpha, b, lb, a, la, &beta, c, lc, c, lc, NULL,
                               NULL, 0, oma_cuda_stream_t()),
                "cuda: gemm"))
        goto out;
    rc = 0;
out:
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (op) cublasLtMatmulDescDestroy(op);
    return rc;
}
