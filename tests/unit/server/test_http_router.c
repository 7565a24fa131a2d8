/* test_http_router.c — path splitting rejects what must never reach a handler, ids and
 * file names are validated, and the route table matches (and 405s) as docs/API.md says. */
#include <stdio.h>
#include <string.h>

#include "server/http/http.h"
#include "server/http/http_routes.h"

#include "check.h"

static const oma_route *route(oma_req *r, const char *method, const char *url, int *pm, char *allow)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    if (oma_http_split_path(r, url) != 0) return NULL;
    return oma_http_match(r, pm, allow, 64);
}

int main(void)
{
    oma_req r;
    int pm;
    char allow[64];

    CHECK(oma_http_id_valid("0123456789abcdef"));
    CHECK(!oma_http_id_valid(""));
    CHECK(!oma_http_id_valid(".."));
    CHECK(!oma_http_id_valid("ABC"));
    CHECK(!oma_http_id_valid("abc/def"));
    CHECK(!oma_http_id_valid(NULL));
    char long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    CHECK(!oma_http_id_valid(long_id));
    long_id[64] = '\0';
    CHECK(oma_http_id_valid(long_id));

    CHECK(oma_http_name_valid("image.png"));
    CHECK(oma_http_name_valid("image-0.png"));
    CHECK(!oma_http_name_valid(".."));
    CHECK(!oma_http_name_valid(".hidden"));
    CHECK(!oma_http_name_valid("a/b"));
    CHECK(!oma_http_name_valid("a\\b"));
    CHECK(!oma_http_name_valid(""));

    memset(&r, 0, sizeof r);
    CHECK(oma_http_split_path(&r, "/api//jobs/") == 0 && r.nseg == 2);
    CHECK(oma_http_split_path(&r, "relative") == -1);
    CHECK(oma_http_split_path(&r, "/a\\b") == -1);
    CHECK(oma_http_split_path(&r, "/a/b/c/d/e/f/g/h/i") == -1);
    CHECK(oma_http_split_path(&r, "/a\x01") == -1);
    /* the path arrives still encoded: split first, then decode each segment */
    CHECK(oma_http_split_path(&r, "/api/jobs/%00/outputs/x") == -2);
    CHECK(oma_http_split_path(&r, "/api/webtoons/ab%00/samples/cd") == -2);
    CHECK(oma_http_split_path(&r, "/api%2Fme") == -2);
    CHECK(oma_http_split_path(&r, "/api%2fme") == -2);
    CHECK(oma_http_split_path(&r, "/a%5Cb") == -2);
    CHECK(oma_http_split_path(&r, "/a%1Fb") == -2);
    CHECK(oma_http_split_path(&r, "/a%7f") == -2);
    CHECK(oma_http_split_path(&r, "/a%") == -2);
    CHECK(oma_http_split_path(&r, "/a%4") == -2);
    CHECK(oma_http_split_path(&r, "/a%zz") == -2);
    CHECK(oma_http_split_path(&r, "/%61pi/me%20x?q=%00%2F") == 0 && r.nseg == 2 &&
          strcmp(r.segs[0], "api") == 0 && strcmp(r.segs[1], "me x") == 0);
    CHECK(oma_http_split_path(&r, "/%2e%2e/x") == 0 && r.nseg == 2 && strcmp(r.segs[0], "..") == 0);

    const oma_route *rt = route(&r, "GET", "/api/me", &pm, allow);
    CHECK(rt && rt->fn && (rt->flags & OMA_ROUTE_AUTH));
    rt = route(&r, "GET", "/api/health", &pm, allow);
    CHECK(rt && !(rt->flags & OMA_ROUTE_AUTH));
    rt = route(&r, "GET", "/api/jobs/abc123/outputs/image.png", &pm, allow);
    CHECK(rt && r.nparam == 2 && strcmp(r.param[0], "abc123") == 0 && strcmp(r.param[1], "image.png") == 0);
    rt = route(&r, "GET", "/api/jobs/abc123/events", &pm, allow);
    CHECK(rt && r.nparam == 1);
    rt = route(&r, "POST", "/api/uploads", &pm, allow);
    CHECK(rt && rt->body == OMA_BODY_MULTIPART);
    rt = route(&r, "POST", "/api/jobs", &pm, allow);
    CHECK(rt && rt->body == OMA_BODY_JSON);
    rt = route(&r, "PUT", "/api/jobs/abc", &pm, allow);
    CHECK(!rt && pm == 1 && strstr(allow, "GET") && strstr(allow, "DELETE"));
    rt = route(&r, "GET", "/api/nothing", &pm, allow);
    CHECK(!rt && pm == 0);
    rt = route(&r, "GET", "/api/jobs/abc/outputs", &pm, allow);
    CHECK(!rt && pm == 0);
    /* AUTOMATIC1111's API: its own prefix, its error shape, JSON with images where it takes them */
    rt = route(&r, "POST", "/sdapi/v1/txt2img", &pm, allow);
    CHECK(rt && (rt->flags & OMA_ROUTE_A1111) && (rt->flags & OMA_ROUTE_AUTH) && rt->body == OMA_BODY_JSON);
    rt = route(&r, "POST", "/sdapi/v1/img2img", &pm, allow);
    CHECK(rt && rt->body == OMA_BODY_JSON_IMAGES && (rt->flags & OMA_ROUTE_SLOW));
    rt = route(&r, "GET", "/sdapi/v1/options", &pm, allow);
    CHECK(rt && rt->fn == oma_route_sdapi_options_get);
    rt = route(&r, "POST", "/sdapi/v1/options", &pm, allow);
    CHECK(rt && rt->fn == oma_route_sdapi_options_set);
    /* a row for several paths ("a|b" segments) matches each of them whole, and nothing else */
    const char *empty[] = {"sd-vae", "hypernetworks", "face-restorers", "prompt-styles", "upscalers",
                           "latent-upscale-modes", "script-info", "extensions"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        char url[80];
        snprintf(url, sizeof url, "/sdapi/v1/%s", empty[i]);
        rt = route(&r, "GET", url, &pm, allow);
        CHECK(rt && rt->fn == oma_route_sdapi_empty_list && (rt->flags & OMA_ROUTE_A1111) && r.nparam == 0);
        rt = route(&r, "POST", url, &pm, allow);
        CHECK(!rt && pm == 1 && strcmp(allow, "GET") == 0);
    }
    const char *refresh[] = {"refresh-checkpoints", "refresh-loras", "refresh-vae"};
    for (size_t i = 0; i < 3; i++) {
        char url[80];
        snprintf(url, sizeof url, "/sdapi/v1/%s", refresh[i]);
        rt = route(&r, "POST", url, &pm, allow);
        CHECK(rt && rt->fn == oma_route_sdapi_null);
    }
    const char *not_routes[] = {"/sdapi/v1/sd-vae|hypernetworks", "/sdapi/v1/sd", "/sdapi/v1/extensionsx",
                                "/sdapi/v1/vae", "/sdapi/v1/", "/sdapi/v1/sd-vae/x", "/sdapi/v1/|", "/sdapi/v1/refresh"};
    for (size_t i = 0; i < sizeof not_routes / sizeof not_routes[0]; i++) {
        rt = route(&r, "GET", not_routes[i], &pm, allow);
        CHECK(!rt && pm == 0);
    }
    /* every route is well formed: ours under /api/, A1111's under /sdapi/v1/ and flagged so */
    for (size_t i = 0; i < oma_routes_count; i++) {
        CHECK(oma_routes[i].fn != NULL);
        int sd = strncmp(oma_routes[i].pattern, "/sdapi/v1/", 10) == 0;
        CHECK(strncmp(oma_routes[i].pattern, "/api/", 5) == 0 || sd);
        CHECK(sd == ((oma_routes[i].flags & OMA_ROUTE_A1111) != 0));
    }
    if (failures) {
        fprintf(stderr, "test_http_router: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http_router: ok\n");
    return 0;
}
