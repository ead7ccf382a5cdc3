/*
 * persister_sink.c - dispatch to a sink implementation.
 */
#include "persister_sink.h"

#include <assert.h>
#include <stdlib.h>

#include "tix_util.h"

struct persister_sink {
    const persister_sink_ops_t *ops; /* the implementation */
    void *impl;                      /* its state (owned) */
    char *where;                     /* for logs (owned) */
};

persister_sink_t *
persister_sink_new(const persister_sink_ops_t *ops, void *impl, const char *where)
{
    assert(ops && impl && where);
    persister_sink_t *self = xcalloc(1, sizeof *self);
    self->ops = ops;
    self->impl = impl;
    self->where = xstrdup(where);
    return self;
}

void
persister_sink_destroy(persister_sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    persister_sink_t *self = *self_p;
    self->ops->destroy(self->impl);
    free(self->where);
    free(self);
    *self_p = NULL;
}

tix_err
persister_sink_write(persister_sink_t *self, persister_order_t *orders, size_t n, persister_write_status *status)
{
    if (n == 0)
        return TIX_OK;
    return self->ops->write(self->impl, orders, n, status);
}

tix_err
persister_sink_ping(persister_sink_t *self)
{
    return self->ops->ping(self->impl);
}

tix_err
persister_sink_load_cursor(persister_sink_t *self, const char *sale_id, persister_log_id_t *log_id)
{
    return self->ops->load_cursor(self->impl, sale_id, log_id);
}

tix_err
persister_sink_store_cursors(persister_sink_t *self, const persister_cursor_t *cursors, size_t n)
{
    if (n == 0)
        return TIX_OK;
    return self->ops->store_cursors(self->impl, cursors, n);
}

const char *
persister_sink_kind(const persister_sink_t *self)
{
    return self->ops->kind;
}

const char *
persister_sink_where(const persister_sink_t *self)
{
    return self->where;
}
