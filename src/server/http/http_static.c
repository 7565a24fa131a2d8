/* http_static.c — serves the built web app (web/dist) at /, with the SPA fallback.
 *
 * The idea: only paths whose every segment is a plain name (no leading dot, no "..", no
 * backslash; already enforced for all paths by the router) are joined under the web
 * folder, files are opened with O_NOFOLLOW and must be regular files. A path with no file
 * extension that is not a file falls back to index.html so the app's own router can take
 * it; a missing asset is a 404. Without a built app, / explains how to build one.
 */
#include "server/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

#define STATIC_MAX_FILE (256u << 20)

static const char *mime_for(const char *name)
{
    static const struct { const char *ext, *mime; } t[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".map", "application/json"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".webp", "image/webp"}, {".gif", "image/gif"},
        {".ico", "image/x-icon"}, {".woff", "font/woff"}, {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"}, {".wasm", "application/wasm"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            if (strcasecmp(dot, t[i].ext) == 0) return t[i].mime;
    return "application/octet-stream";
}

static int seg_ok(const char *s)
{
    if (!s[0] || s[0] == '.') return 0;
    for (const char *p = s; *p; p++)
        if (*p == '\\' || *p == ':' || (unsigned char)*p < 0x20) return 0;
    return 1;
}

/* Opens web_dir/rel as a regular file; returns fd or -1. */
static int open_file(const char *dir, const char *rel, struct stat *stp)
{
    char path[2300];
    int n = snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, stp) != 0 || !S_ISREG(stp->st_mode) || (uint64_t)stp->st_size > STATIC_MAX_FILE) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_fd(oma_req *r, int fd, const struct stat *st, const char *name, int immutable)
{
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st->st_size, fd);
    if (!resp) {
        close(fd);
        oma_reply_error(r, 500, "internal", "cannot send the file");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", mime_for(name));
    MHD_add_response_header(resp, "Cache-Control",
                            immutable ? "public, max-age=31536000, immutable" : "no-cache");
    oma_reply_response(r, 200, resp);
}

static void not_built(oma_req *r)
{
    static const char page[] =
        "<!doctype html><meta charset=utf-8><title>Oh My Assistant</title>"
        "<h1>Oh My Assistant</h1><p>The API is running (see <a href=\"/api/health\">/api/health</a>),"
        " but the web app is not built. Build it with <code>make web</code> (or "
        "<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart, or point "
        "<code>--web DIR</code> / <code>OMA_WEB</code> at a built <code>dist</code> folder.</p>\n";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof page - 1, (void *)page, MHD_RESPMEM_PERSISTENT);
    if (resp) MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    oma_reply_response(r, 200, resp);
}

void oma_http_static(oma_req *r)
{
    const char *dir = r->srv->web_dir;
    char rel[OMA_HTTP_MAX_PATH];
    size_t used = 0;
    rel[0] = '\0';
    for (size_t i = 0; i < r->nseg; i++) {
        if (!seg_ok(r->segs[i])) {
            oma_reply_error(r, 404, "not_found", "no such file");
            return;
        }
        int n = snprintf(rel + used, sizeof rel - used, "%s%s", used ? "/" : "", r->segs[i]);
        if (n < 0 || (size_t)n >= sizeof rel - used) {
            oma_reply_error(r, 404, "not_found", "no such file");
            return;
        }
        used += (size_t)n;
    }
    struct stat st;
    int fd = -1;
    if (dir[0] && used) {
        fd = open_file(dir, rel, &st);
        if (fd >= 0) {
            int immutable = r->nseg > 1 && strcmp(r->segs[0], "assets") == 0;
            send_fd(r, fd, &st, rel, immutable);
            return;
        }
        const char *last = r->segs[r->nseg - 1];
        if (strchr(last, '.')) {
            oma_reply_error(r, 404, "not_found", "no such file");
            return;
        }
    }
    if (dir[0] && (fd = open_file(dir, "index.html", &st)) >= 0) {
        send_fd(r, fd, &st, "index.html", 0);
        return;
    }
    not_built(r);
}
