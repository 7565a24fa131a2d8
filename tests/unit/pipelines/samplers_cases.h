/* samplers_cases.h — the cases of tests/fixtures/sd/samplers (tools/make_sampler_fixtures.py), shared
 * by test_samplers_steps.c (every case, the scheduler alone fed diffusers' recorded model outputs)
 * and test_samplers_ref.c (the cases marked e2e, whole generate runs through our UNet). Seeds as
 * the tool sets them: 2000 + the position in its CASES list, img2img 3000 + the position in I2I. */
#ifndef OMA_TEST_SAMPLERS_CASES_H
#define OMA_TEST_SAMPLERS_CASES_H

#include "pipelines/generate/scheduler.h"

typedef struct {
    const char *file, *config;
    oma_sampler_kind kind;
    int seed, steps;
    float strength;         /* > 0: img2img of ref/init.png */
    int e2e;                /* also run end to end through the UNet (test_samplers_ref.c) */
} ref_case;

static const ref_case cases[] = {
    {"ddim_sd15", "sd15", OMA_SAMPLER_DDIM, 2000, 4, 0, 0},
    {"ddim_vtz", "vtz", OMA_SAMPLER_DDIM, 2001, 4, 0, 1},
    {"ddim_vtz_7", "vtz", OMA_SAMPLER_DDIM, 2002, 7, 0, 0},
    {"ddim_sample_lin", "sample_lin", OMA_SAMPLER_DDIM, 2003, 4, 0, 0},
    {"ddim_v_lead", "v_lead", OMA_SAMPLER_DDIM, 2004, 4, 0, 0},
    {"euler_a_sd15", "sd15", OMA_SAMPLER_EULER_A, 2005, 4, 0, 1},
    {"euler_a_v_lead", "v_lead", OMA_SAMPLER_EULER_A, 2006, 4, 0, 0},
    {"euler_sd15", "sd15", OMA_SAMPLER_EULER, 2007, 4, 0, 0},
    {"euler_vtz", "vtz", OMA_SAMPLER_EULER, 2008, 4, 0, 0},
    {"lms_sd15", "sd15", OMA_SAMPLER_LMS, 2009, 6, 0, 0},
    {"heun_sd15", "sd15", OMA_SAMPLER_HEUN, 2010, 4, 0, 1},
    {"dpm2_sd15", "sd15", OMA_SAMPLER_DPM2, 2011, 4, 0, 1},
    {"dpmpp_2m_sd15", "sd15", OMA_SAMPLER_DPMPP_2M, 2012, 4, 0, 0},
    {"dpmpp_2m_karras_sd15", "sd15", OMA_SAMPLER_DPMPP_2M_KARRAS, 2013, 4, 0, 0},
    {"dpmpp_2m_sde_karras_sd15", "sd15", OMA_SAMPLER_DPMPP_2M_SDE_KARRAS, 2014, 4, 0, 1},
    {"dpmpp_2m_v_lead", "v_lead", OMA_SAMPLER_DPMPP_2M, 2015, 4, 0, 0},
    {"unipc_sd15", "sd15", OMA_SAMPLER_UNIPC, 2016, 5, 0, 1},
    {"unipc_v_lead", "v_lead", OMA_SAMPLER_UNIPC, 2017, 4, 0, 0},
    {"plms_sd15", "sd15", OMA_SAMPLER_PLMS, 2018, 5, 0, 0},
    {"lcm_sd15", "sd15", OMA_SAMPLER_LCM, 2019, 4, 0, 1},
    {"lcm_sd15_8", "sd15", OMA_SAMPLER_LCM, 2020, 8, 0, 0},
    {"tcd_sd15", "sd15", OMA_SAMPLER_TCD, 2021, 4, 0, 0},
    {"tcd_sd15_8", "sd15", OMA_SAMPLER_TCD, 2022, 8, 0, 0},
    /* img2img, strength 0.55, seeds 3000 + i */
    {"i2i_euler_sd15", "sd15", OMA_SAMPLER_EULER, 3000, 4, 0.55f, 0},
    {"i2i_heun_sd15", "sd15", OMA_SAMPLER_HEUN, 3001, 4, 0.55f, 1},
    {"i2i_lms_sd15", "sd15", OMA_SAMPLER_LMS, 3002, 6, 0.55f, 0},
    {"i2i_unipc_sd15", "sd15", OMA_SAMPLER_UNIPC, 3003, 5, 0.55f, 0},
    {"i2i_plms_sd15", "sd15", OMA_SAMPLER_PLMS, 3004, 5, 0.55f, 1},
    {"i2i_lcm_sd15", "sd15", OMA_SAMPLER_LCM, 3005, 4, 0.55f, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

#endif
