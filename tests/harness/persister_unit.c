/*
 * persister_unit.c - log ids and orders for the persister's unit tests; see
 * persister_unit.h.
 */
#include "persister_unit.h"

#include <stdio.h>
#include <string.h>

persister_log_id_t
persister_unit_id(uint64_t ms, uint64_t seq)
{
    return (persister_log_id_t){ms, seq};
}

void
persister_unit_order(persister_order_t *o, const char *sale, int i, persister_log_id_t id)
{
    char order_id[64], user[64], req[32];
    snprintf(order_id, sizeof order_id, "%s:%d", sale, i);
    snprintf(user, sizeof user, "user-%d \"quoted\" é", i);
    snprintf(req, sizeof req, "req-%d", i);
    persister_order_init(o, order_id, sale, user, req, 1764400000000LL + i, id);
}

void
persister_unit_event(Tix__V1__OrderEvent *ev, Tix__V1__Order *o, const char *order_id)
{
    tix__v1__order__init(o);
    o->order_id = (char *) order_id;
    o->sale_id = "s1";
    o->user_id = "u";
    o->request_id = "r";
    o->purchased_at_ms = 5;
    tix__v1__order_event__init(ev);
    ev->order = o;
    ev->log_id = "10-1";
}

int
persister_unit_lines(const char *path, const char *containing)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += !containing || strstr(line, containing) != NULL;
    if (f)
        fclose(f);
    return n;
}
