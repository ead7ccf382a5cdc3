/*
 * persister_unit.c - log ids and orders for the persister's unit tests; see
 * persister_unit.h.
 */
#include "persister_unit.h"

#include <stdio.h>

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
