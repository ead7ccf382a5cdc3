/*
 * rush_tally.c - per-user bitmaps, outcome counters, the order-id set.
 */
#include "rush_tally.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

#define SET_MIN_BITS 8 /* 256 slots to start with */

struct rush_tally {
    rush_counts_t counts; /* what the report reads */
    uint64_t *answered;   /* bitmap: user has a final answer */
    uint64_t *ordered;    /* bitmap: user was named in an order-carrying answer */
    uint64_t *orders;     /* open-addressing set of order fingerprints, 0 = empty */
    unsigned order_bits;  /* log2 of the set's slot count */
    uint64_t order_count; /* fingerprints in the set */
};

static size_t
s_words(uint32_t users)
{
    return ((size_t) users + 63) / 64;
}

rush_tally_t *
rush_tally_new(uint32_t users, uint32_t available)
{
    rush_tally_t *self = xcalloc(1, sizeof *self);
    self->counts.users = users;
    self->counts.available = available;
    self->counts.expected_purchases = available < users ? available : users;
    self->counts.sellout_us = -1;
    self->answered = xcalloc(s_words(users), sizeof(uint64_t));
    self->ordered = xcalloc(s_words(users), sizeof(uint64_t));
    /* Sized for every expected order at most half full: no growth in a
     * correct run, and growth (never failure) when the server oversells. */
    self->order_bits = SET_MIN_BITS;
    while (((uint64_t) 1 << self->order_bits) < 2 * self->counts.expected_purchases)
        self->order_bits++;
    self->orders = xcalloc((size_t) 1 << self->order_bits, sizeof(uint64_t));
    return self;
}

void
rush_tally_destroy(rush_tally_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->answered);
    free((*self)->ordered);
    free((*self)->orders);
    free(*self);
    *self = NULL;
}

/* Sets a bit and says whether it was already set. */
static bool
s_test_and_set(uint64_t *bits, uint32_t i)
{
    uint64_t mask = (uint64_t) 1 << (i % 64);
    bool was = (bits[i / 64] & mask) != 0;
    bits[i / 64] |= mask;
    return was;
}

uint64_t
rush_tally_fingerprint(const char *s)
{
    /* FNV-1a, then a splitmix64 finaliser so that the low bits (the set's
     * slot) depend on every byte. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

/* Inserts fp; false when it was already there. */
static bool
s_set_insert(uint64_t *slots, unsigned bits, uint64_t fp)
{
    size_t mask = ((size_t) 1 << bits) - 1;
    for (size_t i = (size_t) fp & mask;; i = (i + 1) & mask) {
        if (slots[i] == fp)
            return false;
        if (slots[i] == 0) {
            slots[i] = fp;
            return true;
        }
    }
}

static void
s_set_grow(rush_tally_t *self)
{
    size_t old_count = (size_t) 1 << self->order_bits;
    uint64_t *old = self->orders;
    self->order_bits++;
    self->orders = xcalloc((size_t) 1 << self->order_bits, sizeof(uint64_t));
    for (size_t i = 0; i < old_count; i++) {
        if (old[i])
            s_set_insert(self->orders, self->order_bits, old[i]);
    }
    free(old);
}

/* An answer naming an order for user: neither the user nor the order may
 * have been named before. */
static void
s_note_order(rush_tally_t *self, uint32_t user, const char *order_id)
{
    if (s_test_and_set(self->ordered, user))
        self->counts.users_with_two_orders++;
    if ((self->order_count + 1) * 2 > ((uint64_t) 1 << self->order_bits))
        s_set_grow(self);
    if (s_set_insert(self->orders, self->order_bits, rush_tally_fingerprint(order_id ? order_id : "")))
        self->order_count++;
    else
        self->counts.shared_orders++;
}

void
rush_tally_final(rush_tally_t *self, uint32_t user, tix_code code, const Tix__V1__PurchaseReply *reply,
                 bool client_timeout, int64_t elapsed_us)
{
    assert(user < self->counts.users);
    if (s_test_and_set(self->answered, user)) {
        self->counts.duplicate_answers++;
        return;
    }
    self->counts.answered++;
    if (code != TIX__V1__CODE__OK) {
        self->counts.errors[(unsigned) code < RUSH_CODES ? code : TIX__V1__CODE__UNKNOWN]++;
        self->counts.client_timeouts += client_timeout;
        return;
    }
    unsigned outcome = reply ? (unsigned) reply->outcome : 0;
    if (outcome >= RUSH_OUTCOMES)
        outcome = 0; /* a value this build does not know: "unspecified" */
    self->counts.outcomes[outcome]++;
    if (outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED ||
        outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED)
        s_note_order(self, user, reply->order_id);
    if (outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED && self->counts.sellout_us < 0 &&
        self->counts.available > 0 && self->counts.outcomes[outcome] == self->counts.available)
        self->counts.sellout_us = elapsed_us;
}

void
rush_tally_retry(rush_tally_t *self, tix_code code)
{
    self->counts.retries[(unsigned) code < RUSH_CODES ? code : TIX__V1__CODE__UNKNOWN]++;
}

void
rush_tally_resent(rush_tally_t *self)
{
    self->counts.resent_silent++;
}

void
rush_tally_call(rush_tally_t *self)
{
    self->counts.calls++;
}

void
rush_tally_malformed(rush_tally_t *self)
{
    self->counts.malformed++;
}

const rush_counts_t *
rush_tally_counts(const rush_tally_t *self)
{
    return &self->counts;
}

bool
rush_tally_answered(const rush_tally_t *self, uint32_t user)
{
    return (self->answered[user / 64] >> (user % 64)) & 1;
}
