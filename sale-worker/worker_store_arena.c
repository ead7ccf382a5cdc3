/*
 * worker_store_arena.c - hiredis's replies carved from chunks the store
 * keeps (worker_store_arena.h), reset whenever hiredis frees a reply.
 *
 * The chunks form a list used in order: allocations bump the current
 * chunk, move on to the next (empty) one, or add a chunk when none is left
 * or the object is bigger than the next. A root object carries a header
 * naming its arena, because hiredis's freeObject gets the root alone.
 * Freeing the root forgets every object in the arena and gives back the
 * chunks beyond WORKER_STORE_ARENA_KEEP bytes, so a huge reply (a long
 * ListOrders page) costs memory only while it is read.
 *
 * Why resetting at the root's free is safe: a reader (hiredis 0.14's
 * read.c) holds one reply at a time. It creates the root when the first
 * byte of a reply is parsed and adds the elements as bytes arrive, over
 * as many reads as the reply takes (the half-read reply is its r->reply,
 * untouched between reads); then it hands the root out and parses nothing
 * more until asked for the next reply. The async context (async.c's
 * redisProcessCallbacks) frees each reply it got with fn->freeObject right
 * after the reply's callback returns (or at once when it has none), before
 * it asks for the next one. The reader frees its half-read reply with
 * fn->freeObject too, on a protocol error and in redisReaderFree (when
 * redisAsyncFree frees the context). So at most one reply lives in the
 * arena, and whenever its root is freed nothing else of the arena is in
 * use: the store borrows a reply's strings only during its callback, and
 * deep-copies the replies it holds for the replication gate
 * (worker_store_reply_dup, on the heap).
 */
#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tix_util.h"
#include "worker_store_arena.h"

#define S_ALIGN 16 /* what malloc guarantees on x86-64 */

typedef struct s_chunk s_chunk_t;
struct s_chunk {
    s_chunk_t *next;
    size_t cap;  /* bytes in data */
    size_t used; /* bytes carved from data */
    alignas(S_ALIGN) unsigned char data[];
};

struct worker_store_arena {
    s_chunk_t *head; /* every chunk; those after cur are empty */
    s_chunk_t *cur;  /* where objects are carved now (NULL: no chunk yet) */
    void *root;      /* the reply read or being read; NULL: none */
};

/* In front of a root: its arena (padded to S_ALIGN). */
typedef struct {
    alignas(S_ALIGN) worker_store_arena_t *arena;
} s_root_t;

_Static_assert(sizeof(redisReply) % S_ALIGN == 0, "objects after a reply stay aligned");
_Static_assert(sizeof(s_root_t) % S_ALIGN == 0, "a root stays aligned");

/* ---- Chunks --------------------------------------------------------------- */

static void *
s_alloc(worker_store_arena_t *self, size_t size)
{
    size = (size + S_ALIGN - 1) & ~(size_t) (S_ALIGN - 1);
    s_chunk_t *c = self->cur;
    if (!c || c->cap - c->used < size) {
        s_chunk_t *next = c ? c->next : self->head;
        if (!next || next->cap < size) {
            size_t cap = size > WORKER_STORE_ARENA_CHUNK ? size : WORKER_STORE_ARENA_CHUNK;
            s_chunk_t *fresh = xmalloc(sizeof *fresh + cap);
            fresh->cap = cap;
            fresh->used = 0;
            fresh->next = next;
            if (c)
                c->next = fresh;
            else
                self->head = fresh;
            next = fresh;
        }
        self->cur = c = next;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

/* Forgets every object; keeps the first chunks up to the budget. */
static void
s_reset(worker_store_arena_t *self)
{
    size_t kept = 0;
    for (s_chunk_t **cp = &self->head; *cp;) {
        s_chunk_t *c = *cp;
        if (kept + c->cap <= WORKER_STORE_ARENA_KEEP) {
            kept += c->cap;
            c->used = 0;
            cp = &c->next;
        } else {
            *cp = c->next;
            free(c);
        }
    }
    self->cur = self->head;
    self->root = NULL;
}

/* ---- hiredis's object functions ------------------------------------------- */

/* A reply object of type with extra bytes after it, linked into its
 * parent as hiredis's own functions do (hiredis.c). */
static redisReply *
s_object(const redisReadTask *task, int type, size_t extra)
{
    worker_store_arena_t *self = task->privdata;
    redisReply *r;
    if (task->parent) {
        r = s_alloc(self, sizeof *r + extra);
    } else {
        assert(self->root == NULL); /* one reply at a time (see the top) */
        s_root_t *h = s_alloc(self, sizeof *h + sizeof *r + extra);
        h->arena = self;
        r = (redisReply *) (h + 1);
        self->root = r;
    }
    memset(r, 0, sizeof *r);
    r->type = type;
    if (task->parent) {
        redisReply *parent = task->parent->obj;
        assert(parent->type == REDIS_REPLY_ARRAY);
        parent->element[task->idx] = r;
    }
    return r;
}

static void *
s_create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = s_object(task, task->type, len + 1);
    r->str = (char *) (r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *
s_create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t) elements : 0;
    redisReply *r = s_object(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *));
    if (n > 0) {
        r->element = (redisReply **) (r + 1);
        memset(r->element, 0, n * sizeof(redisReply *));
    }
    r->elements = n;
    return r;
}

static void *
s_create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = s_object(task, REDIS_REPLY_INTEGER, 0);
    r->integer = value;
    return r;
}

static void *
s_create_nil(const redisReadTask *task)
{
    return s_object(task, REDIS_REPLY_NIL, 0);
}

/* hiredis frees only roots (read.c, async.c): the whole arena goes. */
static void
s_free_object(void *obj)
{
    if (!obj)
        return;
    worker_store_arena_t *self = ((s_root_t *) obj - 1)->arena;
    assert(obj == self->root);
    s_reset(self);
}

static redisReplyObjectFunctions s_functions = {
    .createString = s_create_string,
    .createArray = s_create_array,
    .createInteger = s_create_integer,
    .createNil = s_create_nil,
    .freeObject = s_free_object,
};

/* ---- The arena ------------------------------------------------------------ */

worker_store_arena_t *
worker_store_arena_new(void)
{
    return xcalloc(1, sizeof(worker_store_arena_t));
}

void
worker_store_arena_destroy(worker_store_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_store_arena_t *self = *self_p;
    while (self->head) {
        s_chunk_t *c = self->head;
        self->head = c->next;
        free(c);
    }
    free(self);
    *self_p = NULL;
}

void
worker_store_arena_attach(worker_store_arena_t *self, redisReader *reader)
{
    /* A reader freed the last reply through the arena; a new one starts
     * with nothing in it. */
    assert(self->root == NULL);
    s_reset(self);
    reader->fn = &s_functions;
    reader->privdata = self;
}

size_t
worker_store_arena_bytes(const worker_store_arena_t *self)
{
    size_t n = 0;
    for (const s_chunk_t *c = self->head; c; c = c->next)
        n += c->cap;
    return n;
}
