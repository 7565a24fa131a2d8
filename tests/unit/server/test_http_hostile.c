/* test_http_hostile.c — the HTTP layer against a hostile client (issue 16), over raw sockets:
 *  - an encoded NUL or '/' in a path is refused (400), never acted on as a shorter path
 *    (DELETE .../webtoons/W%00/samples/U once deleted the whole webtoon);
 *  - framing: two Content-Length headers, a negative one, Content-Length with chunked, and
 *    HTTP/1.1 without (or with two) Host headers each get one clean 400;
 *  - cross-site writes: JSON routes want application/json, only the upload route takes
 *    multipart, and a cookie-authenticated write with a foreign Origin or a cross-site
 *    Sec-Fetch-Site is refused (403); Bearer clients are unaffected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#include "check.h"
#include "raw_http.h"

static char buf[65536];

static void paths(int port, const char *token)
{
    char req[1024], wid[80];
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\":\"Keep me\"}", buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "id", wid, sizeof wid) == 0);

    /* the NUL once cut the path to DELETE /api/webtoons/W: 204 and the webtoon gone */
    snprintf(req, sizeof req,
             "DELETE /api/webtoons/%s%%00/samples/0123abcd HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\nConnection: close\r\n\r\n", wid, token);
    CHECK(raw_request(port, req, buf, sizeof buf) == 400);
    CHECK(strstr(buf, "\"code\":\"bad_request\"") != NULL);
    snprintf(req, sizeof req, "/api/webtoons/%s", wid);
    CHECK(raw_json(port, "GET", req, token, NULL, buf, sizeof buf) == 200);

    /* the NUL once made this the job list */
    snprintf(req, sizeof req, "GET /api/jobs/%%00/outputs/image.png HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer %s\r\nConnection: close\r\n\r\n", token);
    CHECK(raw_request(port, req, buf, sizeof buf) == 400);
    CHECK(strstr(buf, "\"jobs\"") == NULL);

    /* static files: index.html%00.png is not index.html */
    CHECK(raw_request(port, "GET /index.html%00.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                      buf, sizeof buf) == 400);
    /* an encoded slash is not a separator, upper or lower case hex */
    snprintf(req, sizeof req, "GET /api%%2Fme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                              "Connection: close\r\n\r\n", token);
    CHECK(raw_request(port, req, buf, sizeof buf) == 400);
    snprintf(req, sizeof req, "GET /api/webtoons/%s%%2fstyles HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer %s\r\nConnection: close\r\n\r\n", wid, token);
    CHECK(raw_request(port, req, buf, sizeof buf) == 400);
    /* a broken escape */
    CHECK(raw_request(port, "GET /api/health%2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                      sizeof buf) == 400);
    /* ordinary escapes still work: %61pi is api */
    CHECK(raw_request(port, "GET /%61pi/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                      sizeof buf) == 200);
    /* a query string is not part of the path, and may hold an encoded slash */
    CHECK(raw_request(port, "GET /api/health?next=%2Fa%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                      buf, sizeof buf) == 200);
}

static void framing(int port)
{
    /* two different Content-Length headers: the first was used (and the login answered 401) */
    const char *login = "{\"email\":\"h@example.com\",\"password\":\"wrong-one\"}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nContent-Length: 400\r\nConnection: close\r\n\r\n%s", strlen(login), login);
    CHECK(raw_request(port, req, buf, sizeof buf) == 400);
    CHECK(raw_status_lines(buf) == 1);
    CHECK(strstr(buf, "Content-Length") != NULL && strstr(buf, "\"code\":\"bad_request\"") != NULL);
    /* the same value twice is still two headers */
    CHECK(raw_request(port, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                      buf, sizeof buf) == 400);
    CHECK(raw_status_lines(buf) == 1);
    /* a negative Content-Length: refused, and the connection is not reused. libmicrohttpd
     * 0.9.75 refuses it itself, before any of our code runs, and writes its status line twice
     * (its state machine overwrites HEADERS_SENDING after parse_connection_headers; still so in
     * 0.9.77), so "one status line" cannot be asserted here: see docs/API.md. */
    CHECK(raw_request(port, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: -1\r\n\r\n",
                      buf, sizeof buf) == 400);
    CHECK(strstr(buf, "Connection: close") != NULL);
    /* Content-Length beside chunked */
    CHECK(raw_request(port, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                            "2\r\n{}\r\n0\r\n\r\n", buf, sizeof buf) == 400);
    CHECK(raw_status_lines(buf) == 1);
    /* HTTP/1.1 without Host was 200 */
    CHECK(raw_request(port, "GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n", buf, sizeof buf) == 400);
    CHECK(raw_status_lines(buf) == 1);
    CHECK(raw_request(port, "GET /api/health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
                      buf, sizeof buf) == 400);
    /* HTTP/1.0 needs no Host */
    CHECK(raw_request(port, "GET /api/health HTTP/1.0\r\n\r\n", buf, sizeof buf) == 200);
    /* and a plain request still works */
    CHECK(raw_request(port, "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                      sizeof buf) == 200);
}

/* A write with the session cookie, a content type and extra headers. */
static int cookie_post(int port, const char *path, const char *token, const char *ctype, const char *extra,
                       const char *body)
{
    char req[2048];
    snprintf(req, sizeof req,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: oma_session=%s\r\nContent-Type: %s\r\n"
             "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             path, port, token, ctype, extra, strlen(body), body);
    return raw_request(port, req, buf, sizeof buf);
}

static void cross_site(int port, const char *token)
{
    const char *wt = "{\"name\":\"csrf\"}";
    /* text/plain needs no preflight, so a foreign page could send it: was 201 */
    int st = cookie_post(port, "/api/webtoons", token, "text/plain", "Origin: http://evil.example\r\n", wt);
    CHECK(st == 403 || st == 415);
    CHECK(cookie_post(port, "/api/webtoons", token, "text/plain", "", wt) == 415);
    CHECK(strstr(buf, "\"code\":\"unsupported_media_type\"") != NULL);
    CHECK(cookie_post(port, "/api/jobs", token, "application/x-www-form-urlencoded", "",
                      "{\"kind\":\"image.normalize\"}") == 415);
    /* multipart only where it is an upload */
    CHECK(cookie_post(port, "/api/webtoons", token, "multipart/form-data; boundary=B", "",
                      "--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--B--\r\n") == 415);
    /* JSON with the cookie from a foreign origin, or another port of this host */
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "Origin: http://evil.example\r\n", wt) == 403);
    CHECK(strstr(buf, "\"code\":\"forbidden\"") != NULL);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "Origin: http://127.0.0.1:1\r\n", wt) == 403);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "Sec-Fetch-Site: same-site\r\n", wt) == 403);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "Sec-Fetch-Site: cross-site\r\n", wt) == 403);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "Origin: null\r\n", wt) == 403);
    CHECK(cookie_post(port, "/api/uploads", token, "multipart/form-data; boundary=B",
                      "Origin: http://evil.example\r\n",
                      "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                      "Content-Type: image/png\r\n\r\nxx\r\n--B--\r\n") == 403);
    CHECK(cookie_post(port, "/api/auth/logout", token, "text/plain", "Origin: http://evil.example\r\n", "") == 403);
    /* the same origin (the web app), a proxy's forwarded host, or no browser headers at all */
    char origin[128];
    snprintf(origin, sizeof origin, "Origin: http://127.0.0.1:%d\r\nSec-Fetch-Site: same-origin\r\n", port);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json; charset=utf-8", origin, wt) == 201);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json",
                      "Origin: https://comics.example\r\nX-Forwarded-Host: comics.example\r\n", wt) == 201);
    CHECK(cookie_post(port, "/api/webtoons", token, "application/json", "", wt) == 201);
    /* reads with the cookie are not writes */
    char req[512];
    snprintf(req, sizeof req, "GET /api/me HTTP/1.1\r\nHost: x\r\nCookie: oma_session=%s\r\n"
                              "Origin: http://evil.example\r\nConnection: close\r\n\r\n", token);
    CHECK(raw_request(port, req, buf, sizeof buf) == 200);
    /* Bearer clients are unaffected by Origin (a browser page cannot set Authorization) */
    snprintf(req, sizeof req,
             "POST /api/webtoons HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", token, strlen(wt), wt);
    CHECK(raw_request(port, req, buf, sizeof buf) == 201);
    /* but Bearer JSON writes still need a JSON content type */
    snprintf(req, sizeof req,
             "POST /api/webtoons HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", token, strlen(wt), wt);
    CHECK(raw_request(port, req, buf, sizeof buf) == 415);
}

int main(void)
{
    char dir[] = "/tmp/oma_test_hostile_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    int port = oma_server_port(srv);
    CHECK(port > 0);

    char token[160] = "";
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"h@example.com\",\"password\":\"hostile-pw-1\",\"name\":\"H\"}", buf,
                   sizeof buf) == 201);
    CHECK(raw_json_str(buf, "token", token, sizeof token) == 0);

    paths(port, token);
    framing(port);
    cross_site(port, token);

    oma_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_http_hostile: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http_hostile: ok\n");
    return 0;
}
