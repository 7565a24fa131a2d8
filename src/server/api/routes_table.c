/* routes_table.c — every API route: method, path pattern, handler, whether a session is
 * needed and what body it reads. docs/API.md describes the same list for people. */
#include "server/http/http_routes.h"

#define A OMA_ROUTE_AUTH
#define S OMA_ROUTE_SLOW
#define H OMA_ROUTE_HASH
#define J OMA_BODY_JSON
#define M OMA_BODY_MULTIPART
#define N OMA_BODY_NONE
#define I OMA_BODY_JSON_IMAGES
#define SD (OMA_ROUTE_AUTH | OMA_ROUTE_A1111)   /* AUTOMATIC1111's API (routes_sdapi*.c) */

const oma_route oma_routes[] = {
    {"GET", "/api/health", oma_route_health, 0, N},
    {"GET", "/api/capabilities", oma_route_capabilities, 0, N},
    {"POST", "/api/auth/signup", oma_route_signup, H, J},
    {"POST", "/api/auth/login", oma_route_login, H, J},
    {"POST", "/api/auth/logout", oma_route_logout, A, N},
    {"GET", "/api/me", oma_route_me, A, N},
    {"POST", "/api/uploads", oma_route_upload_create, A | S, M},
    {"GET", "/api/uploads/:id", oma_route_upload_get, A, N},
    {"GET", "/api/uploads/:id/file", oma_route_upload_file, A, N},
    {"POST", "/api/webtoons", oma_route_webtoon_create, A, J},
    {"GET", "/api/webtoons", oma_route_webtoon_list, A, N},
    {"GET", "/api/webtoons/:id", oma_route_webtoon_get, A, N},
    {"DELETE", "/api/webtoons/:id", oma_route_webtoon_delete, A | S, N},
    {"POST", "/api/webtoons/:id/samples", oma_route_sample_add, A, J},
    {"DELETE", "/api/webtoons/:id/samples/:upload", oma_route_sample_delete, A, N},
    {"GET", "/api/webtoons/:id/styles", oma_route_styles_list, A, N},
    {"POST", "/api/webtoons/:id/assets", oma_route_asset_create, A | S, J},
    {"GET", "/api/webtoons/:id/assets", oma_route_asset_list, A, N},
    {"POST", "/api/jobs", oma_route_job_create, A, J},
    {"GET", "/api/jobs", oma_route_job_list, A, N},
    {"GET", "/api/jobs/:id", oma_route_job_get, A, N},
    {"DELETE", "/api/jobs/:id", oma_route_job_cancel, A, N},
    {"GET", "/api/jobs/:id/events", oma_route_job_events, A, N},
    {"GET", "/api/jobs/:id/preview", oma_route_job_preview, A, N},
    {"GET", "/api/jobs/:id/losses", oma_route_job_losses, A, N},
    {"GET", "/api/jobs/:id/outputs/:name", oma_route_job_output, A, N},
    {"GET", "/api/assets/:id", oma_route_asset_get, A, N},
    {"GET", "/api/assets/:id/file", oma_route_asset_file, A, N},
    {"DELETE", "/api/assets/:id", oma_route_asset_delete, A, N},
    {"POST", "/api/tokens", oma_route_token_create, A, J},
    {"GET", "/api/tokens", oma_route_token_list, A, N},
    {"DELETE", "/api/tokens/:id", oma_route_token_revoke, A, N},
    /* txt2img/img2img answer when their job ends (oma_req_wait), without holding a thread */
    {"POST", "/sdapi/v1/txt2img", oma_route_sdapi_txt2img, SD | S, J},
    {"POST", "/sdapi/v1/img2img", oma_route_sdapi_img2img, SD | S, I},
    {"GET", "/sdapi/v1/progress", oma_route_sdapi_progress, SD, N},
    {"POST", "/sdapi/v1/interrupt", oma_route_sdapi_interrupt, SD, N},
    {"POST", "/sdapi/v1/skip", oma_route_sdapi_skip, SD, N},
    {"GET", "/sdapi/v1/options", oma_route_sdapi_options_get, SD, N},
    {"POST", "/sdapi/v1/options", oma_route_sdapi_options_set, SD, J},
    {"GET", "/sdapi/v1/sd-models", oma_route_sdapi_sd_models, SD | S, N},
    {"GET", "/sdapi/v1/samplers", oma_route_sdapi_samplers, SD, N},
    {"GET", "/sdapi/v1/schedulers", oma_route_sdapi_schedulers, SD, N},
    {"GET", "/sdapi/v1/loras", oma_route_sdapi_loras, SD, N},
    {"GET", "/sdapi/v1/embeddings", oma_route_sdapi_embeddings, SD | S, N},
    {"POST", "/sdapi/v1/png-info", oma_route_sdapi_png_info, SD | S, I},
    /* lists clients read at start, of things this server has none of, and rescans of nothing
     * (routes_sdapi_empty.c): one row each for the paths that share a handler */
    {"GET", "/sdapi/v1/sd-vae|hypernetworks|face-restorers|prompt-styles|upscalers|latent-upscale-modes|script-info|"
            "extensions", oma_route_sdapi_empty_list, SD, N},
    {"GET", "/sdapi/v1/scripts", oma_route_sdapi_scripts, SD, N},
    {"GET", "/sdapi/v1/cmd-flags", oma_route_sdapi_cmd_flags, SD, N},
    {"POST", "/sdapi/v1/refresh-checkpoints|refresh-loras|refresh-vae", oma_route_sdapi_null, SD, N},
};

const size_t oma_routes_count = sizeof oma_routes / sizeof oma_routes[0];

const oma_route_precheck oma_route_prechecks[] = {
    {oma_route_login, oma_route_login_precheck},
};

const size_t oma_route_prechecks_count = sizeof oma_route_prechecks / sizeof oma_route_prechecks[0];
