/*
 * persister_proc.h - tix-persister as its own process, for the tests that
 * run it against a stack (tests/test_it_persist_*.c, test_it_fault_ferretdb.c):
 * start it with given args, stop it and insist on a clean exit, wait for its
 * health file, and count the lines of a jsonl sink.
 *
 * Failures are cmocka assertions unless a function says otherwise; call
 * from a cmocka test. Single-threaded.
 */
#ifndef TIX_PERSISTER_PROC_H
#define TIX_PERSISTER_PROC_H

#include <stdarg.h>
#include <stddef.h>

#include "harness.h"

/* Most args a start takes, the program name and the extras included. */
#define PERSISTER_PROC_MAX_ARGS 23

/* Starts tix-persister as p (named name): args (NULL-terminated, the program
 * name left out), then those in extra (NULL-terminated; extra may be NULL).
 * Asserts that it started; p is overwritten. */
void persister_proc_start(th_proc_t *p, const char *name, const char *const *args, va_list *extra);

/* SIGTERM; the persister must flush and exit 0 within 10 s. */
void persister_proc_stop(th_proc_t *p);

/* Polls until the file health exists (the persister is subscribed and its
 * sink answers); asserts that p stays alive meanwhile and the file came. */
void persister_proc_wait_healthy(th_proc_t *p, const char *health, int timeout_ms);

/* Fills path with a fresh jsonl file name in th_tmpdir() and health with
 * its health file's name. */
void persister_proc_jsonl_paths(char *path, size_t path_size, char *health, size_t health_size);

/* Lines of path (0 when absent). */
int persister_proc_count_lines(const char *path);

/* Polls until path holds at least n lines; returns the count then. */
int persister_proc_wait_lines(const char *path, int n, int timeout_ms);

/* The id of the last entry of sale's order log in redis. */
void persister_proc_last_log_id(const th_redis_t *redis, const char *sale, char *buf, size_t size);

#endif
