/*
 * alloc_preload.c - LD_PRELOADed into a child process (a tix-worker) by a
 * test, to count the heap allocations its main thread makes: malloc,
 * calloc and realloc, forwarded to glibc's __libc_ ones, counted while
 * counting is on. SIGUSR1 turns counting on, the next one off, and so on;
 * at exit the count is written to the file named by TIX_ALLOC_OUT, as
 * "allocs N". Other threads (libzmq's I/O threads) are never counted.
 * Not for sanitizer builds: AddressSanitizer must own malloc.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);

static volatile sig_atomic_t s_on;
static pid_t s_main;
static uint64_t s_allocs;

static void
s_count(void)
{
    if (s_on && (pid_t) syscall(SYS_gettid) == s_main)
        s_allocs++;
}

void *
malloc(size_t size)
{
    s_count();
    return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
    s_count();
    return __libc_calloc(n, size);
}

void *
realloc(void *ptr, size_t size)
{
    s_count();
    return __libc_realloc(ptr, size);
}

static void
s_toggle(int sig)
{
    (void) sig;
    s_on = !s_on;
}

__attribute__((constructor)) static void
s_start(void)
{
    s_main = getpid();
    struct sigaction sa = {0};
    sa.sa_handler = s_toggle;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
}

__attribute__((destructor)) static void
s_done(void)
{
    const char *path = getenv("TIX_ALLOC_OUT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        return;
    fprintf(f, "allocs %llu\n", (unsigned long long) s_allocs);
    fclose(f);
}
