/*
 * tix_procstat.c - the standard process_* metrics, read from /proc.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tix_procstat.h"

/* /proc/self/stat's fields after the command's closing parenthesis:
 * utime (14), stime (15), starttime (22) and rss (24). */
static bool
s_stat(unsigned long long *utime, unsigned long long *stime, unsigned long long *start, long *rss)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return false;
    /* Fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice threads
     * itrealvalue starttime vsize rss. */
    return sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %ld",
                  utime, stime, start, rss) == 4;
}

/* The boot time, seconds since the epoch (btime in /proc/stat), or 0. */
static unsigned long long
s_boot_time(void)
{
    char line[256];
    unsigned long long btime = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    }
    fclose(f);
    return btime;
}

/* Open descriptors (entries of /proc/self/fd, less the one reading it), or -1. */
static long
s_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

void
tix_procstat_write(tix_metrics_t *w)
{
    unsigned long long utime, stime, start;
    long rss;
    double tick = (double) sysconf(_SC_CLK_TCK);
    if (s_stat(&utime, &stime, &start, &rss) && tick > 0) {
        tix_metrics_family(w, "process_cpu_seconds_total", "counter",
                           "Total user and system CPU time spent in seconds.");
        tix_metrics_f64(w, "process_cpu_seconds_total", NULL, 0, (double) (utime + stime) / tick);
        tix_metrics_family(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        tix_metrics_f64(w, "process_resident_memory_bytes", NULL, 0, (double) rss * (double) sysconf(_SC_PAGESIZE));
        unsigned long long boot = s_boot_time();
        if (boot) {
            tix_metrics_family(w, "process_start_time_seconds", "gauge",
                               "Start time of the process since unix epoch in seconds.");
            tix_metrics_f64(w, "process_start_time_seconds", NULL, 0, (double) boot + (double) start / tick);
        }
    }
    long fds = s_open_fds();
    if (fds >= 0) {
        tix_metrics_family(w, "process_open_fds", "gauge", "Number of open file descriptors.");
        tix_metrics_u64(w, "process_open_fds", NULL, 0, (uint64_t) fds);
    }
}
