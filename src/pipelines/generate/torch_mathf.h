/* torch_mathf.h — float32 log / exp as PyTorch 1.13's CPU kernels compute them.
 *
 * torch evaluates Tensor.log() and Tensor.exp() (0-dim tensors included) with SLEEF's 1-ulp
 * vector functions (Sleef_logf8_u10 / Sleef_expf8_u10, AVX2 with FMA), which differ from glibc's
 * logf/expf in the last bit for a few percent of inputs. Where a float32 value decides something
 * discrete downstream (the Brownian tree's query points are rounded to 6 decimals), the bits must
 * be torch's: these are that algorithm for one float, written with fmaf where SLEEF's AVX2 build
 * uses a fused multiply-add. Checked against torch on every float in [0.02, 16) by the fixture
 * script's --check-mathf mode (tools/make_sampler_fixtures.py).
 */
#ifndef OMA_PIPELINES_TORCH_MATHF_H
#define OMA_PIPELINES_TORCH_MATHF_H

float oma_torch_logf(float x);
float oma_torch_expf(float x);

#endif
