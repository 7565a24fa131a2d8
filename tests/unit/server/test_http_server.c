/* test_http_server.c — the HTTP layer in-process, spoken to over a raw socket: the server
 * starts on a free port and stops without leaks (ASan/LSan watch), HEAD has no body,
 * keep-alive carries several requests, "Expect: 100-continue" with an oversized
 * Content-Length gets its 413 before any body is sent, an unauthenticated upload gets 401
 * the same way, errors are JSON of the one shape, an overlong path is refused, and 120
 * garbage or mangled requests leave the server answering. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"

#include "check.h"

static int connect_to(int port)
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

static int send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads until the peer closes, `until` appears `count` times, or 5 s pass. */
static size_t recv_until(int fd, char *buf, size_t cap, const char *until, int count)
{
    size_t n = 0;
    buf[0] = '\0';
    for (;;) {
        if (until) {
            int seen = 0;
            for (const char *p = buf; (p = strstr(p, until)) != NULL; p++) seen++;
            if (seen >= count) break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = '\0';
        if (n + 1 >= cap) break;
    }
    return n;
}

int main(void)
{
    char dir[] = "/tmp/oma_test_http_XXXXXX";
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
    static char buf[65536];

    /* keep-alive: three requests on one connection, the middle one HEAD */
    int fd = connect_to(port);
    CHECK(fd >= 0);
    const char *three = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /api/capabilities HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CHECK(send_all(fd, three, strlen(three)) == 0);
    recv_until(fd, buf, sizeof buf, NULL, 0);
    close(fd);
    int oks = 0;
    for (const char *p = buf; (p = strstr(p, "HTTP/1.1 200")) != NULL; p++) oks++;
    CHECK(oks == 3);
    int bodies = 0;
    for (const char *p = buf; (p = strstr(p, "\"status\":\"ok\"")) != NULL; p++) bodies++;
    CHECK(bodies == 1);   /* HEAD sent none */
    CHECK(strstr(buf, "image.normalize") != NULL);

    /* 100-continue with an oversized JSON body: 413 at once, no 100 Continue */
    fd = connect_to(port);
    const char *big = "POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n";
    CHECK(send_all(fd, big, strlen(big)) == 0);
    recv_until(fd, buf, sizeof buf, "}}", 1);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 413", 12) == 0);
    CHECK(strstr(buf, "100 Continue") == NULL);
    CHECK(strstr(buf, "{\"error\":{\"code\":\"payload_too_large\"") != NULL);

    /* an upload without a session: 401 before the body */
    fd = connect_to(port);
    const char *anon = "POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                       "boundary=B\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n";
    CHECK(send_all(fd, anon, strlen(anon)) == 0);
    recv_until(fd, buf, sizeof buf, "}}", 1);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 401", 12) == 0);
    CHECK(strstr(buf, "\"code\":\"unauthorized\"") != NULL);

    /* a small over-limit body sent without waiting is drained, then refused */
    fd = connect_to(port);
    size_t blen = (1u << 20) + 10;
    char *body = malloc(blen);
    CHECK(body != NULL);
    if (body) {
        memset(body, ' ', blen);
        char head[256];
        int hn = snprintf(head, sizeof head, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\n"
                                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", blen);
        CHECK(send_all(fd, head, (size_t)hn) == 0);
        CHECK(send_all(fd, body, blen) == 0);
        free(body);
        recv_until(fd, buf, sizeof buf, "}}", 1);
        CHECK(strncmp(buf, "HTTP/1.1 413", 12) == 0);
    }
    close(fd);

    /* an overlong path and a backslash path are refused with JSON */
    fd = connect_to(port);
    char longreq[3000];
    int ln = snprintf(longreq, sizeof longreq, "GET /api/");
    memset(longreq + ln, 'a', 1500);
    ln += 1500;
    ln += snprintf(longreq + ln, sizeof longreq - (size_t)ln, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(send_all(fd, longreq, (size_t)ln) == 0);
    recv_until(fd, buf, sizeof buf, NULL, 0);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 404", 12) == 0 || strncmp(buf, "HTTP/1.1 414", 12) == 0);

    fd = connect_to(port);
    const char *bs = "GET /..\\..\\etc\\passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CHECK(send_all(fd, bs, strlen(bs)) == 0);
    recv_until(fd, buf, sizeof buf, NULL, 0);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    CHECK(strstr(buf, "\"code\":\"not_found\"") != NULL);

    /* garbage: random bytes and mangled requests; the server must keep answering */
    uint32_t seed = 7;
    static const char *const shapes[] = {
        "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"email\":1,\"pas",
        "POST /api/uploads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /api/jobs/%00%ff/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n\r\n",
    };
    char junk[1024];
    for (int i = 0; i < 120; i++) {
        size_t n;
        if (i % 2) {
            const char *base = shapes[(size_t)i / 2 % 4];
            n = strlen(base);
            memcpy(junk, base, n);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                junk[(seed >> 8) % n] = (char)(seed >> 24);
            }
        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % sizeof junk;
            for (size_t k = 0; k < n; k++) {
                seed = seed * 1103515245u + 12345u;
                junk[k] = (char)(seed >> 24);
            }
        }
        fd = connect_to(port);
        if (fd < 0) {
            CHECK(fd >= 0);
            break;
        }
        (void)send_all(fd, junk, n);
        shutdown(fd, SHUT_WR);
        recv_until(fd, buf, sizeof buf, NULL, 0);
        close(fd);
    }
    fd = connect_to(port);
    const char *health = "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CHECK(fd >= 0 && send_all(fd, health, strlen(health)) == 0);
    recv_until(fd, buf, sizeof buf, NULL, 0);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);

    oma_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_http_server: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http_server: ok\n");
    return 0;
}
