/* test_device_backend.c — the device backend's host logic with a fake device (fake_device.h:
 * counted host buffers, the CPU kernels): tensors made after install come from the device and
 * are found by the registry (interior views too, views running past the end are not); an op
 * whose operands are all device memory runs the device kernel, one with a host operand or a
 * shape no kernel covers runs the CPU kernel (counted), with the same numbers either way; a
 * failing kernel becomes the sticky one-line error and stops later ops; buffers made before
 * install are freed by the host, device ones by the device even after uninstall. No GPU. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "fake_device.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

static void fill(oma_tensor *t, float seed)
{
    int64_t n = oma_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) t->data[i] = sinf(seed + 0.37f * (float)i);
}

static int same(const oma_tensor *a, const oma_tensor *b)
{
    return oma_tensor_numel(a) == oma_tensor_numel(b) &&
           memcmp(a->data, b->data, (size_t)oma_tensor_numel(a) * sizeof(float)) == 0;
}

int main(void)
{
    /* reference on the CPU backend, host buffers */
    oma_tensor x0, w0, b0, y_ref, pre;
    CHECK(oma_tensor_alloc4(&x0, 2, 5, 24, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&w0, 2, 16, 24, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&b0, 1, 16, 0, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&y_ref, 2, 5, 16, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&pre, 1, 100, 0, 0, 0) == 0);   /* made before install */
    fill(&x0, 1), fill(&w0, 2), fill(&b0, 3);
    CHECK(oma_op_linear(&x0, &w0, &b0, &y_ref) == 0);

    CHECK(oma_devbackend_install(NULL) == -1);
    CHECK(oma_devbackend_install(&fake_devops) == 0);
    CHECK(oma_devbackend_active() == 1);
    CHECK(strcmp(oma_backend_current()->name, "fake") == 0);

    /* allocation: device buffers, zeroed by the device, found by the registry */
    oma_tensor x, w, b, y;
    long a0 = fake.allocs;
    CHECK(oma_tensor_alloc4(&x, 2, 5, 24, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&w, 2, 16, 24, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&b, 1, 16, 0, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&y, 2, 5, 16, 0, 0) == 0);
    CHECK(fake.allocs == a0 + 4 && fake.zeros >= 4);
    CHECK(oma_devbackend_reachable(x.data, 5 * 24 * sizeof(float)));
    CHECK(oma_devbackend_reachable(x.data + 7, 10 * sizeof(float)));          /* interior */
    /* past the end of the allocation (480 bytes rounded to 512) */
    CHECK(!oma_devbackend_reachable(x.data + 9, 5 * 24 * sizeof(float)));
    CHECK(!oma_devbackend_reachable(x0.data, sizeof(float)));                  /* host buffer */
    memcpy(x.data, x0.data, sizeof(float) * 5 * 24);
    memcpy(w.data, w0.data, sizeof(float) * 16 * 24);
    memcpy(b.data, b0.data, sizeof(float) * 16);

    /* all operands on the device: the device kernels run (gemm + bias), same numbers */
    oma_devbackend_stats st;
    oma_devbackend_stats_reset();
    long k0 = fake.kernels, s0 = fake.syncs;
    CHECK(oma_op_linear(&x, &w, &b, &y) == 0);
    oma_devbackend_stats_get(&st);
    CHECK(st.host_ops == 0 && st.device_ops == (uint64_t)(fake.kernels - k0));
    CHECK(fake.kernels > k0 && fake.syncs - s0 == fake.kernels - k0);   /* waited after each */
    CHECK(same(&y, &y_ref));

    /* a host operand (the weight): the CPU kernel runs, counted, same numbers */
    memset(y.data, 0, sizeof(float) * 5 * 16);
    oma_devbackend_stats_reset();
    k0 = fake.kernels;
    CHECK(oma_op_linear(&x, &w0, &b, &y) == 0);
    oma_devbackend_stats_get(&st);
    CHECK(st.host_ops >= 1 && st.host_unreachable >= 1 && st.last_host_op >= 1);
    CHECK(same(&y, &y_ref));

    /* a shape no device kernel covers (head_dim 200): host, counted; head_dim 8: device */
    oma_tensor q, o;
    CHECK(oma_tensor_alloc4(&q, 3, 1, 3, 200, 0) == 0);
    CHECK(oma_tensor_alloc4(&o, 3, 1, 3, 200, 0) == 0);
    fill(&q, 4);
    oma_devbackend_stats_reset();
    CHECK(oma_op_attention(&q, &q, &q, 1, 0, 0, &o) == 0);
    oma_devbackend_stats_get(&st);
    CHECK(st.host_ops == 1 && st.host_unreachable == 0 && st.device_ops == 0);
    oma_devbackend_stats_reset();
    CHECK(oma_op_attention(&q, &q, &q, 25, 0, 0, &o) == 0);
    oma_devbackend_stats_get(&st);
    CHECK(st.host_ops == 0 && st.device_ops == 1);

    /* a failing kernel: sticky error, later ops do nothing at all */
    char err[320] = "";
    CHECK(oma_devbackend_check(err, sizeof err) == 0);
    fake.fail_next = 1;
    CHECK(oma_op_silu(&y, &y) == 0);     /* the void op cannot say; the check does */
    CHECK(oma_devbackend_check(err, sizeof err) == -1);
    CHECK(strcmp(err, "fake: silu: injected failure") == 0);
    k0 = fake.kernels;
    oma_devbackend_stats_reset();
    memcpy(y.data, y_ref.data, sizeof(float) * 5 * 16);
    CHECK(oma_op_silu(&y, &y) == 0);
    CHECK(oma_op_conv2d(&(oma_tensor){0}, &w, NULL, 1, 0, &y) == -1);   /* shape check first */
    oma_devbackend_stats_get(&st);
    CHECK(fake.kernels == k0 && st.host_ops == 0 && st.device_ops == 0 && same(&y, &y_ref));

    /* frees: the host one by the host (ASan would object otherwise), device ones by the device */
    long f0 = fake.frees;
    oma_tensor_free(&pre);
    CHECK(fake.frees == f0);
    oma_devbackend_uninstall();
    CHECK(oma_devbackend_active() == 0);
    CHECK(strcmp(oma_backend_current()->name, "cpu") == 0);
    oma_tensor h;
    a0 = fake.allocs;
    CHECK(oma_tensor_alloc4(&h, 1, 8, 0, 0, 0) == 0);       /* after uninstall: host memory */
    CHECK(fake.allocs == a0 && !oma_devbackend_reachable(h.data, 4));
    oma_tensor_free(&h);
    oma_tensor_free(&x), oma_tensor_free(&w), oma_tensor_free(&b), oma_tensor_free(&y);
    oma_tensor_free(&q), oma_tensor_free(&o);
    CHECK(fake.frees == f0 + 6);
    oma_devbackend_stats_get(&st);
    CHECK(st.live_bytes == 0);
    oma_tensor_free(&x0), oma_tensor_free(&w0), oma_tensor_free(&b0), oma_tensor_free(&y_ref);
    return failures ? 1 : 0;
}
