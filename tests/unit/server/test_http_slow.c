/* test_http_slow.c — slow clients (issue 16): one address opening 600 connections that each
 * trickle a header must not lock out another address (it used to: one thread per connection,
 * 512 in all, no cap per address); 300 open connections from ten addresses cost no thread
 * each (the daemon runs a small pool of I/O threads); a connection that keeps sending header
 * bytes without finishing its head is closed at the header deadline (it used to be kept alive
 * by every byte); event streams, which now suspend between polls instead of sleeping in a
 * thread, still stream, and the server stops cleanly with streams open. The deadline is
 * shortened to 1 s through OMA_HEADER_DEADLINE_MS. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/jobs/jobs.h"
#include "server/server.h"

#include "check.h"
#include "raw_http.h"

#define SLOW 600

static char buf[65536];

/* A connection to port from the loopback address 127.0.0.<last>. */
static int connect_from(int port, int last)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in me = {0};
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)last);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int health_from(int port, int last)
{
    int fd = connect_from(port, last);
    if (fd < 0) return 0;
    const char *req = "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int st = 0;
    if (raw_send(fd, req, strlen(req)) == 0) {
        raw_recv_all(fd, buf, sizeof buf, 2000);
        if (strncmp(buf, "HTTP/1.1 ", 9) == 0) st = atoi(buf + 9);
    }
    close(fd);
    return st;
}

int main(void)
{
    setenv("OMA_HEADER_DEADLINE_MS", "1000", 1);
    char dir[] = "/tmp/oma_test_slow_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    int port = oma_server_port(srv);

    /* 600 connections from 127.0.0.1, each with half a request head */
    static int slow[SLOW];
    int opened = 0;
    for (int i = 0; i < SLOW; i++) {
        slow[i] = connect_from(port, 1);
        if (slow[i] >= 0) {
            opened++;
            const char *part = "GET /api/health HTTP/1.1\r\nX-Slow: 1\r\n";
            (void)raw_send(slow[i], part, strlen(part));
        }
    }
    CHECK(opened > 0);
    sleep_ms(100);
    /* another address still gets answers, four times out of four */
    for (int i = 0; i < 4; i++) CHECK(health_from(port, 2) == 200);

    /* a head trickled byte by byte is cut at the deadline (1 s), not kept alive by each byte */
    int fd = connect_from(port, 3);
    CHECK(fd >= 0);
    const char *head = "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    int64_t t0 = now_ms(), closed_at = -1;
    for (size_t k = 0; fd >= 0 && k < strlen(head) && now_ms() - t0 < 4000; k++) {
        if (send(fd, head + k, 1, MSG_NOSIGNAL) != 1) {
            closed_at = now_ms() - t0;
            break;
        }
        sleep_ms(50);
        char c;
        ssize_t got = recv(fd, &c, 1, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed_at = now_ms() - t0;
            break;
        }
    }
    if (fd >= 0) close(fd);
    CHECK(closed_at >= 800 && closed_at <= 3000);

    /* the slow ones were cut too: the server is back to normal for 127.0.0.1 */
    sleep_ms(1500);
    CHECK(health_from(port, 1) == 200);
    for (int i = 0; i < SLOW; i++)
        if (slow[i] >= 0) close(slow[i]);

    /* 300 connections (30 from each of ten addresses) in the middle of a request: threads stay
     * few (before: one per connection) */
    int before = count_threads();
    int many = 0;
    for (int i = 0; i < 300; i++) {
        slow[i] = connect_from(port, 10 + i / 30);
        if (slow[i] < 0) continue;
        many++;
        (void)raw_send(slow[i], "GET /api/health HTTP/1.1\r\n", 26);
    }
    sleep_ms(200);
    int during = count_threads();
    CHECK(many == 300);
    CHECK(during - before < 50);
    CHECK(health_from(port, 2) == 200);
    for (int i = 0; i < 300; i++)
        if (slow[i] >= 0) close(slow[i]);

    /* an event stream on the pool: the first event comes, later changes come, and stopping
     * the server with streams open neither hangs nor leaks */
    char token[160], artist[80], job[48], req[512];
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"s@example.com\",\"password\":\"stream-pw-1\",\"name\":\"S\"}", buf,
                   sizeof buf) == 201);
    CHECK(raw_json_str(buf, "token", token, sizeof token) == 0);
    CHECK(raw_json(port, "GET", "/api/me", token, NULL, buf, sizeof buf) == 200);
    CHECK(raw_json_str(buf, "id", artist, sizeof artist) == 0);
    char url[600];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    CHECK(oma_db_open(&db, url, 0, err, sizeof err) == 0);
    CHECK(db && oma_jobs_enqueue(db, artist, "image.normalize", NULL, NULL, NULL, job, sizeof job, err, sizeof err) == 0);
    snprintf(req, sizeof req, "GET /api/jobs/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
             job, token);
    int streams[3];
    for (int i = 0; i < 3; i++) {
        streams[i] = connect_from(port, 40 + i);
        CHECK(streams[i] >= 0 && raw_send(streams[i], req, strlen(req)) == 0);
    }
    raw_recv_all(streams[0], buf, sizeof buf, 500);
    CHECK(strstr(buf, "text/event-stream") != NULL && strstr(buf, "\"status\":\"queued\"") != NULL);
    CHECK(oma_db_exec(db, "UPDATE jobs SET progress = 0.5, message = 'half way'") == 0);
    raw_recv_all(streams[0], buf, sizeof buf, 600);
    CHECK(strstr(buf, "half way") != NULL);
    oma_db_close(db);

    oma_server_stop(srv);
    for (int i = 0; i < 3; i++)
        if (streams[i] >= 0) close(streams[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_http_slow: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http_slow: ok (%d slow connections opened)\n", opened);
    return 0;
}
