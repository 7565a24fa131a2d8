/* routes_sdapi_empty.c — AUTOMATIC1111 routes for things this server does not have (VAEs apart
 * from the model's own, hypernetworks, face restorers, prompt styles, upscalers, scripts,
 * extensions): clients read these lists when they start, so each answers with A1111's shape
 * and nothing in it, rather than a 404 that would stop the client. The refresh-* routes rescan
 * nothing: the models folder is read on every request. */
#include "server/http/http_routes.h"

static void reply(oma_req *r, const char *json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    if (v) oma_reply_json(r, 200, v);
    else oma_reply_error(r, 500, "internal", "out of memory");
}

void oma_route_sdapi_empty_list(oma_req *r) { reply(r, "[]"); }
void oma_route_sdapi_null(oma_req *r) { reply(r, "null"); }
void oma_route_sdapi_scripts(oma_req *r) { reply(r, "{\"txt2img\":[],\"img2img\":[]}"); }
void oma_route_sdapi_cmd_flags(oma_req *r) { reply(r, "{\"api\":true,\"nowebui\":true,\"api_auth\":null}"); }
