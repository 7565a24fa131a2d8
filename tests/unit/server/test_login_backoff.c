/* test_login_backoff.c — log-in floods (issue 16): after a few wrong passwords an account
 * answers 429 with Retry-After, even to the right password, until the wait is over; a client
 * address that fails across many accounts is held back too, while another address is not;
 * e-mails fold case beyond ASCII (ÜNÏ@EXÄMPLE.COM is ünï@exämple.com). Before the fix, 50
 * wrong passwords were all 401 and the right one then worked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

#include "check.h"
#include "raw_http.h"

static char buf[65536];

static int login(int port, const char *email, const char *pw, const char *from)
{
    char body[512], req[1024];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
    snprintf(req, sizeof req,
             "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             from ? "X-Forwarded-For: " : "", from ? from : "", from ? "\r\n" : "", strlen(body), body);
    return raw_request(port, req, buf, sizeof buf);
}

static int retry_after(void)
{
    const char *p = strstr(buf, "Retry-After: ");
    return p ? atoi(p + 13) : -1;
}

int main(void)
{
    char dir[] = "/tmp/oma_test_login_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    int port = oma_server_port(srv);
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"kim@example.com\",\"password\":\"right-password\",\"name\":\"Kim\"}", buf,
                   sizeof buf) == 201);

    /* per account: 5 wrong, then even the right password waits */
    for (int i = 0; i < 5; i++) CHECK(login(port, "kim@example.com", "wrong-password", "10.0.0.1") == 401);
    CHECK(login(port, "KIM@example.com", "right-password", "10.0.0.2") == 429);
    CHECK(strstr(buf, "\"code\":\"too_many_requests\"") != NULL);
    int wait = retry_after();
    CHECK(wait >= 1 && wait <= 2);
    CHECK(login(port, "kim@example.com", "wrong-password", "10.0.0.1") == 429);   /* not even checked */
    struct timespec ts = {wait > 0 ? wait : 1, 100000000L};
    nanosleep(&ts, NULL);
    CHECK(login(port, "kim@example.com", "right-password", "10.0.0.2") == 200);   /* and it clears */
    CHECK(login(port, "kim@example.com", "wrong-password", "10.0.0.1") == 401);

    /* per address: 20 wrong log-ins over 20 accounts from one address */
    char email[64];
    for (int i = 0; i < 20; i++) {
        snprintf(email, sizeof email, "nobody%d@example.com", i);
        CHECK(login(port, email, "wrong-password", "10.0.0.9") == 401);
    }
    CHECK(login(port, "kim@example.com", "right-password", "10.0.0.9") == 429);
    CHECK(retry_after() >= 1);
    CHECK(login(port, "kim@example.com", "right-password", "10.0.0.10") == 200);

    /* case folding beyond ASCII: one account, not two */
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com\",\"password\":\"right-password\",\"name\":\"U\"}",
                   buf, sizeof buf) == 201);
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM\",\"password\":\"right-password\",\"name\":\"U\"}",
                   buf, sizeof buf) == 409);
    CHECK(login(port, "\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM", "right-password", "10.0.0.11") == 200);

    oma_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_login_backoff: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_login_backoff: ok\n");
    return 0;
}
