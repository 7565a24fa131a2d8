/* raw_http.h — a tiny raw-socket HTTP client for the server tests: one request per
 * connection (the request should say "Connection: close"), the whole answer read back, and
 * small helpers to pull the status and a JSON string member out of it. Header-only so each
 * test program gets its own copy. */
#ifndef OMA_TESTS_RAW_HTTP_H
#define OMA_TESTS_RAW_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int raw_send(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads until the peer closes or timeout_ms pass without a byte. */
static inline size_t raw_recv_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    buf[0] = '\0';
    while (n + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = '\0';
    }
    return n;
}

/* Sends req on a new connection, reads the answer into buf; returns the first status code
 * (0 if none came back). */
static inline int raw_request(int port, const char *req, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = raw_connect(port);
    if (fd < 0) return 0;
    if (raw_send(fd, req, strlen(req)) != 0) {
        close(fd);
        return 0;
    }
    raw_recv_all(fd, buf, cap, 5000);
    close(fd);
    int status = 0;
    if (strncmp(buf, "HTTP/1.", 7) == 0 && strlen(buf) > 12) status = atoi(buf + 9);
    return status;
}

/* Status lines in an answer: "HTTP/1.x NNN " at its start or right after a newline. */
static inline int raw_status_lines(const char *ans)
{
    int n = 0;
    for (const char *p = ans; (p = strstr(p, "HTTP/1.")) != NULL; p++)
        if ((p == ans || p[-1] == '\n') && p[7] && p[8] == ' ' && p[9] >= '1' && p[9] <= '5') n++;
    return n;
}

static inline int raw_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

/* Copies the JSON string member "key":"..." (no escapes expected) from the answer. */
static inline int raw_json_str(const char *answer, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(answer, pat);
    if (!p) return -1;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= outlen) return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

/* A JSON request with a Bearer token (token may be NULL) on its own connection. */
static inline int raw_json(int port, const char *method, const char *path, const char *token,
                    const char *body, char *buf, size_t cap)
{
    size_t blen = body ? strlen(body) : 0;
    size_t need = strlen(path) + blen + (token ? strlen(token) : 0) + 256;
    char *req = malloc(need);
    if (!req) return 0;
    int k = snprintf(req, need, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (token) k += snprintf(req + k, need - (size_t)k, "Authorization: Bearer %s\r\n", token);
    if (body)
        k += snprintf(req + k, need - (size_t)k,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    snprintf(req + k, need - (size_t)k, "\r\n%s", body ? body : "");
    int st = raw_request(port, req, buf, cap);
    free(req);
    return st;
}

#endif
