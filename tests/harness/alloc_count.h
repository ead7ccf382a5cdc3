/*
 * alloc_count.h - counts the heap allocations a test's own thread makes
 * while th_alloc_counting is set (issue 18: the hot paths allocate nothing).
 *
 * Include it in exactly one file of a test executable: it defines malloc,
 * calloc and realloc (forwarding to glibc's __libc_ ones), which
 * interposes them for libzmq, czmq and protobuf-c too. Under
 * AddressSanitizer, whose allocator must stay in place, its allocation hook
 * counts instead (th_alloc_count_init installs it). Other threads (libzmq's
 * I/O threads, a fake peer's actor) are never counted.
 */
#ifndef TIX_ALLOC_COUNT_H
#define TIX_ALLOC_COUNT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TH_ALLOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TH_ALLOC_ASAN 1
#endif

static _Thread_local int th_alloc_counting; /* set around what is counted */
static uint64_t th_allocs;                  /* allocations counted so far */

#ifdef TH_ALLOC_ASAN
#include <sanitizer/allocator_interface.h>

static void
th_alloc_on_malloc(const volatile void *ptr, size_t size)
{
    (void) ptr, (void) size;
    if (th_alloc_counting)
        th_allocs++;
}

static void
th_alloc_on_free(const volatile void *ptr)
{
    (void) ptr;
}

/* Call first thing in main. */
static void
th_alloc_count_init(void)
{
    __sanitizer_install_malloc_and_free_hooks(th_alloc_on_malloc, th_alloc_on_free);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *ptr, size_t size);

void *
malloc(size_t size)
{
    if (th_alloc_counting)
        th_allocs++;
    return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
    if (th_alloc_counting)
        th_allocs++;
    return __libc_calloc(n, size);
}

void *
realloc(void *ptr, size_t size)
{
    if (th_alloc_counting)
        th_allocs++;
    return __libc_realloc(ptr, size);
}

/* Call first thing in main. */
static void
th_alloc_count_init(void)
{
}
#endif

#endif
