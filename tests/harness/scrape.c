/*
 * scrape.c - HTTP GET, metric lookups and promtool for the tests; see
 * scrape.h.
 */
#include "scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tix_util.h"

/* Reads the whole answer (the server closes the connection) into buf. */
static size_t
s_read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t) r;
    buf[n] = '\0';
    return n;
}

/* One request; -1 when nothing answered within timeout_ms. */
static int
s_request(int port, const char *method, const char *path, char *body, size_t body_size, char *type, size_t type_size,
          int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {timeout_ms / 1000, (suseconds_t) (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512];
    int len =
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                 method, path);
    if (write(fd, req, (size_t) len) != len) {
        close(fd);
        return -1;
    }
    size_t cap = body_size + 4096;
    char *raw = xmalloc(cap);
    s_read_all(fd, raw, cap);
    close(fd);
    int status = -1;
    const char *sep = strstr(raw, "\r\n\r\n");
    if (sscanf(raw, "HTTP/1.%*d %d", &status) != 1 || !sep)
        status = -1;
    snprintf(body, body_size, "%s", sep ? sep + 4 : "");
    if (type) {
        type[0] = '\0';
        const char *t = strstr(raw, "\r\nContent-Type: ");
        if (t && t < sep)
            snprintf(type, type_size, "%.*s", (int) strcspn(t + 16, "\r"), t + 16);
    }
    free(raw);
    return status;
}

int
th_http_request(int port, const char *method, const char *path, char *body, size_t body_size, char *type,
                size_t type_size)
{
    return s_request(port, method, path, body, body_size, type, type_size, 10000);
}

int
th_http_get(int port, const char *path, char *body, size_t body_size)
{
    return s_request(port, "GET", path, body, body_size, NULL, 0, 10000);
}

int
th_http_get_within(int port, const char *path, char *body, size_t body_size, int timeout_ms)
{
    return s_request(port, "GET", path, body, body_size, NULL, 0, timeout_ms);
}

double
th_metric(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
    }
    return -1;
}

double
th_metric_sum(const char *text, const char *name, const char *having)
{
    size_t len = strlen(name);
    double sum = -1;
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, len) != 0 || (line[len] != '{' && line[len] != ' '))
            continue;
        const char *end = strchr(line, '\n');
        const char *space = memchr(line, ' ', end ? (size_t) (end - line) : strlen(line));
        const char *found = strstr(line, having);
        if (!space || (having[0] && (!found || found > space)))
            continue;
        sum = (sum < 0 ? 0 : sum) + strtod(space + 1, NULL);
    }
    return sum;
}

bool
th_promtool_clean(const char *text)
{
    char path[512], out[600];
    snprintf(path, sizeof path, "%s/promtool-XXXXXX", th_tmpdir());
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    size_t len = strlen(text);
    bool wrote = write(fd, text, len) == (ssize_t) len;
    close(fd);
    snprintf(out, sizeof out, "%s.out", path);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s check metrics < '%s' > '%s' 2>&1", TH_PROMTOOL, path, out);
    int rc = system(cmd);
    FILE *f = fopen(out, "r");
    char report[1024] = "";
    size_t n = f ? fread(report, 1, sizeof report - 1, f) : 0;
    report[n] = '\0';
    if (f)
        fclose(f);
    if (rc != 0 || n > 0)
        fprintf(stderr, "promtool check metrics: exit %d: %s\n", rc, report);
    return wrote && rc == 0 && n == 0;
}

bool
th_http_wait_status(int port, const char *path, int status, int timeout_ms)
{
    char body[1024];
    int64_t deadline = tix_now_ms() + timeout_ms;
    int got;
    while ((got = th_http_get(port, path, body, sizeof body)) != status && tix_now_ms() < deadline)
        usleep(20000);
    if (got != status)
        fprintf(stderr, "GET :%d%s answered %d, not %d: %s\n", port, path, got, status, body);
    return got == status;
}
