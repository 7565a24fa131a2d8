/* test_submission_checks.c — the smaller holes of issue 16, through the API:
 *  - names count characters, not bytes (150 "é" is a fine webtoon name, 60 "ü" a fine artist
 *    name; both were refused as too long), and a webtoon name refuses control characters
 *    (it was accepted);
 *  - image.normalize refuses an unknown parameter (it was ignored);
 *  - style.profile without a webtoon, or with too few samples, and any job with a style_id
 *    that is not a ready style of the artist, are refused at submission (they were 202 and
 *    failed when run);
 *  - a malformed JSON body says where, not what the parser said (it echoed its internals). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "server/server.h"

#include "check.h"
#include "raw_http.h"

static char buf[65536];

/* Uploads a small PNG; the new upload's id goes to id. */
static int upload_png(int port, const char *token, char *id, size_t idlen)
{
    uint8_t px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    oma_image img = {16, 16, 3, px};
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    if (oma_image_encode_png(&img, NULL, NULL, &png, &len, err, sizeof err) != 0) return 0;
    const char *pre = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                      "Content-Type: image/png\r\n\r\n";
    const char *post = "\r\n--BOUNDARY--\r\n";
    size_t blen = strlen(pre) + len + strlen(post);
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: multipart/form-data; boundary=BOUNDARY\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", token, blen);
    size_t total = (size_t)hn + blen;
    char *req = malloc(total + 1);
    int st = 0;
    if (req) {
        memcpy(req, head, (size_t)hn);
        memcpy(req + hn, pre, strlen(pre));
        memcpy(req + hn + strlen(pre), png, len);
        memcpy(req + hn + strlen(pre) + len, post, strlen(post));
        req[total] = '\0';
        int fd = raw_connect(port);
        if (fd >= 0 && raw_send(fd, req, total) == 0) {
            raw_recv_all(fd, buf, sizeof buf, 5000);
            if (strncmp(buf, "HTTP/1.1 ", 9) == 0) st = atoi(buf + 9);
        }
        if (fd >= 0) close(fd);
        free(req);
    }
    free(png);
    return st == 201 && raw_json_str(buf, "id", id, idlen) == 0;
}

int main(void)
{
    char dir[] = "/tmp/oma_test_submit_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    int port = oma_server_port(srv);
    char token[160], body[2048], wid[80];

    /* names count characters */
    char name[1024] = "";
    for (int i = 0; i < 60; i++) strcat(name, "\xc3\xbc");   /* 60 x ü = 120 bytes */
    snprintf(body, sizeof body, "{\"email\":\"n@example.com\",\"password\":\"names-pw-1\",\"name\":\"%s\"}", name);
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL, body, buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "token", token, sizeof token) == 0);
    name[0] = '\0';
    for (int i = 0; i < 150; i++) strcat(name, "\xc3\xa9");   /* 150 x é = 300 bytes */
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, body, buf, sizeof buf) == 201);
    for (int i = 0; i < 150; i++) strcat(name, "\xc3\xa9");   /* 300 characters */
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, body, buf, sizeof buf) == 400);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\":\"tab\\there\"}", buf, sizeof buf) == 400);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\":\"bell\\u0007\"}", buf, sizeof buf) == 400);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\":\"Sky\"}", buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "id", wid, sizeof wid) == 0);

    /* unknown params */
    char up[4][80];
    for (int i = 0; i < 4; i++) CHECK(upload_png(port, token, up[i], sizeof up[i]));
    snprintf(body, sizeof body, "{\"kind\":\"image.normalize\",\"params\":{\"max_sidee\":512},\"inputs\":{\"image\":\"%s\"}}", up[0]);
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 400);
    CHECK(strstr(buf, "\"code\":\"invalid_params\"") && strstr(buf, "max_sidee"));
    snprintf(body, sizeof body, "{\"kind\":\"image.normalize\",\"params\":{\"max_side\":512},\"inputs\":{\"image\":\"%s\"}}", up[0]);
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 202);

    /* style.profile: a webtoon to keep the style, and enough samples */
    snprintf(body, sizeof body, "{\"kind\":\"style.profile\",\"params\":{\"name\":\"s\"},"
                                "\"inputs\":{\"samples\":[\"%s\",\"%s\",\"%s\"]}}", up[0], up[1], up[2]);
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 400);
    CHECK(strstr(buf, "webtoon_id") != NULL);
    snprintf(body, sizeof body, "{\"kind\":\"style.profile\",\"params\":{\"name\":\"s\"},\"webtoon_id\":\"%s\","
                                "\"inputs\":{\"samples\":[\"%s\",\"%s\"]}}", wid, up[0], up[1]);
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 400);
    CHECK(strstr(buf, "sample") != NULL);
    snprintf(body, sizeof body, "{\"kind\":\"style.profile\",\"params\":{\"name\":\"s\"},\"webtoon_id\":\"%s\","
                                "\"inputs\":{\"samples\":[\"%s\",\"%s\",\"%s\"]}}", wid, up[0], up[1], up[2]);
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 202);

    /* a style_id that is no style of ours: 404 before anything runs */
    snprintf(body, sizeof body, "{\"kind\":\"pose.render\",\"params\":{\"style_id\":\"0123abcd\",\"pose\":{}}}");
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 404);
    CHECK(strstr(buf, "no such style") != NULL);
    snprintf(body, sizeof body, "{\"kind\":\"pose.render\",\"params\":{\"style_id\":7,\"pose\":{}}}");
    CHECK(raw_json(port, "POST", "/api/jobs", token, body, buf, sizeof buf) == 400);

    /* JSON errors: where, not the parser's words */
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\": nope}", buf, sizeof buf) == 400);
    CHECK(strstr(buf, "\"code\":\"invalid_json\"") != NULL);
    CHECK(strstr(buf, "line 1") != NULL && strstr(buf, "nope") == NULL && strstr(buf, "invalid token") == NULL &&
          strstr(buf, "near") == NULL);

    oma_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_submission_checks: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_submission_checks: ok\n");
    return 0;
}
