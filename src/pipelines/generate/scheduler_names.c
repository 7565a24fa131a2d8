/* scheduler_names.c — sampler names: one table in A1111's listing order with each sampler's
 * display name and the aliases accepted (snake_case and A1111's k_* short names), and the
 * mapping of an A1111 (sampler_name, scheduler) request pair onto it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pipelines/generate/scheduler.h"

typedef struct {
    oma_sampler_kind kind;
    const char *name;
    const char *alias[3];
} sampler_row;

/* A1111's order (sd_samplers_kdiffusion, then the compvis ones), LCM and TCD last */
static const sampler_row rows[] = {
    {OMA_SAMPLER_DPMPP_2M_KARRAS, "DPM++ 2M Karras", {"dpmpp_2m_karras", "k_dpmpp_2m_ka", NULL}},
    {OMA_SAMPLER_DPMPP_2M_SDE_KARRAS, "DPM++ 2M SDE Karras", {"dpmpp_2m_sde_karras", "k_dpmpp_2m_sde_ka", NULL}},
    {OMA_SAMPLER_EULER_A, "Euler a", {"euler_a", "euler_ancestral", "k_euler_a"}},
    {OMA_SAMPLER_EULER, "Euler", {"euler", "k_euler", NULL}},
    {OMA_SAMPLER_LMS, "LMS", {"lms", "k_lms", NULL}},
    {OMA_SAMPLER_HEUN, "Heun", {"heun", "k_heun", NULL}},
    {OMA_SAMPLER_DPM2, "DPM2", {"dpm2", "k_dpm_2", NULL}},
    {OMA_SAMPLER_DPMPP_2M, "DPM++ 2M", {"dpmpp_2m", "k_dpmpp_2m", NULL}},
    {OMA_SAMPLER_DDIM, "DDIM", {"ddim", NULL, NULL}},
    {OMA_SAMPLER_PLMS, "PLMS", {"plms", "pndm", NULL}},
    {OMA_SAMPLER_UNIPC, "UniPC", {"unipc", "uni_pc", NULL}},
    {OMA_SAMPLER_LCM, "LCM", {"lcm", NULL, NULL}},
    {OMA_SAMPLER_TCD, "TCD", {"tcd", NULL, NULL}},
};
#define N_ROWS ((int)(sizeof rows / sizeof rows[0]))

int oma_sampler_parse(const char *name, oma_sampler_kind *out)
{
    if (!name) return -1;
    for (int i = 0; i < N_ROWS; i++) {
        int hit = !strcasecmp(name, rows[i].name);
        for (int a = 0; a < 3 && !hit; a++) hit = rows[i].alias[a] && !strcasecmp(name, rows[i].alias[a]);
        if (hit) {
            *out = rows[i].kind;
            return 0;
        }
    }
    return -1;
}

const char *oma_sampler_name(oma_sampler_kind k)
{
    for (int i = 0; i < N_ROWS; i++)
        if (rows[i].kind == k) return rows[i].name;
    return "?";
}

int oma_sampler_count(void) { return N_ROWS; }

oma_sampler_kind oma_sampler_at(int i)
{
    if (i < 0 || i >= N_ROWS) return rows[0].kind;
    return rows[i].kind;
}

const char *oma_sampler_names_line(void)
{
    static char line[512];
    if (!line[0]) {
        size_t at = 0;
        for (int i = 0; i < N_ROWS && at < sizeof line; i++)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s\"%s\"", i ? ", " : "", rows[i].name);
    }
    return line;
}

int oma_sampler_parse_a1111(const char *sampler, const char *scheduler, oma_sampler_kind *out)
{
    if (!sampler) return -1;
    int automatic = !scheduler || !scheduler[0] || !strcasecmp(scheduler, "Automatic");
    int karras = scheduler && !strcasecmp(scheduler, "Karras");
    int uniform = scheduler && !strcasecmp(scheduler, "Uniform");
    if (!strcasecmp(sampler, "DPM++ 2M")) {
        if (automatic || karras) *out = OMA_SAMPLER_DPMPP_2M_KARRAS;
        else if (uniform) *out = OMA_SAMPLER_DPMPP_2M;
        else return -1;
        return 0;
    }
    if (!strcasecmp(sampler, "DPM++ 2M SDE")) {
        if (!karras) return -1;      /* A1111's automatic choice is Exponential */
        *out = OMA_SAMPLER_DPMPP_2M_SDE_KARRAS;
        return 0;
    }
    if (oma_sampler_parse(sampler, out) != 0) return -1;
    int is_karras = *out == OMA_SAMPLER_DPMPP_2M_KARRAS || *out == OMA_SAMPLER_DPMPP_2M_SDE_KARRAS;
    if (automatic) return 0;
    if (karras) return is_karras ? 0 : -1;
    if (uniform) return is_karras ? -1 : 0;
    return -1;
}
