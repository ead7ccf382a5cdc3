/*
 * tix_curve.h - CURVE keys for every tix binary: certificate files, client
 * key sets, allow-lists, key generation.
 *
 * Certificates are the files czmq's zcert_save writes: NAME holds the public
 * key, NAME_secret the public and the secret key. A secret file readable or
 * writable by group or others is refused (TIX_ERR_CONFIG, with "chmod 600"
 * in the reason). Allow-lists are a certificate file (one key) or a
 * directory of them. Only regular files directly in the directory count
 * (symbolic links to files are followed): subdirectories are not read, so
 * moving a key into revoked/ beneath it revokes it, and names starting
 * with '.' are skipped. A directory is re-read on the next lookup after a
 * file in it is added, removed or rewritten, so keys can be added or
 * revoked without a restart.
 *
 * Secret keys are never logged: only public keys, and in logs only their
 * first TIX_CURVE_KEY_SHOWN characters (tix_curve_key_short).
 *
 * Used by the broker (server keys, allow-lists), workers, the persister,
 * libtix, tix and tix-rush (client keys). Threading: an allow-list belongs
 * to one thread; the rest is plain data.
 */
#ifndef TIX_CURVE_H
#define TIX_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#include "tix_err.h"

#define TIX_CURVE_KEY_TXT_BYTES 41 /* a Z85 key: 40 characters and a NUL */
#define TIX_CURVE_KEY_SHOWN 8      /* characters of a public key shown in logs */
#define TIX_CURVE_SECRET_SUFFIX "_secret"

/* A key pair, Z85 text. */
typedef struct {
    char public_txt[TIX_CURVE_KEY_TXT_BYTES];
    char secret_txt[TIX_CURVE_KEY_TXT_BYTES]; /* never logged */
} tix_curve_pair_t;

/* What a CURVE client needs: its own pair and the server's public key. */
typedef struct {
    tix_curve_pair_t own;
    char server_txt[TIX_CURVE_KEY_TXT_BYTES];
} tix_curve_client_t;

typedef struct tix_curve_allow tix_curve_allow_t;

/* Loads a key pair. path names the certificate: its public file NAME or its
 * secret file NAME_secret (either way NAME_secret is read). TIX_ERR_CONFIG
 * with one line in why when the secret file is missing, holds no secret
 * key, or is readable by group or others. */
tix_err tix_curve_pair_load(const char *path, tix_curve_pair_t *pair, char *why, size_t why_size);

/* Loads the public key of the certificate file path (e.g. the broker's
 * public file on a client) into public_txt. TIX_ERR_CONFIG with why. */
tix_err tix_curve_public_load(const char *path, char public_txt[TIX_CURVE_KEY_TXT_BYTES], char *why, size_t why_size);

/* Loads a client's keys: its own certificate (secret_path, as
 * tix_curve_pair_load) and the server's public certificate (server_path).
 * TIX_ERR_CONFIG with why. */
tix_err tix_curve_client_load(const char *secret_path, const char *server_path, tix_curve_client_t *keys, char *why,
                              size_t why_size);

/* A binary's two client flags (--curve-secret, --curve-server-key): when
 * both are set (non-empty) loads them into *keys and points *use at keys;
 * when neither is, *use = NULL (plain). One without the other, or a key that
 * does not load, is TIX_ERR_CONFIG with why (naming the flag). */
tix_err tix_curve_client_config(const char *secret_path, const char *server_path, tix_curve_client_t *keys,
                                const tix_curve_client_t **use, char *why, size_t why_size);

/* Makes sock (a libzmq socket handle or a zsock_t) a CURVE client with keys.
 * Call before connecting. false when libzmq refuses an option. */
bool tix_curve_client_apply(const tix_curve_client_t *keys, void *sock);

/* Makes sock a CURVE server with pair, authenticated in ZAP domain
 * zap_domain. Call before binding. false when libzmq refuses an option. */
bool tix_curve_server_apply(const tix_curve_pair_t *pair, const char *zap_domain, void *sock);

/* Loads an allow-list from path: a directory of certificates or a single
 * certificate file. NULL with why when path is neither. The caller owns
 * the list. */
tix_curve_allow_t *tix_curve_allow_new(const char *path, char *why, size_t why_size);
/* Frees the list. NULL-safe; sets *self_p to NULL. */
void tix_curve_allow_destroy(tix_curve_allow_t **self_p);
/* True when public_txt (Z85) is on the list. A directory is re-read first
 * when its files changed (one stat per file on each lookup). */
bool tix_curve_allow_has(tix_curve_allow_t *self, const char *public_txt);
/* The path the list was loaded from (borrowed). */
const char *tix_curve_allow_path(const tix_curve_allow_t *self);

/* The loggable form of a public key: its first TIX_CURVE_KEY_SHOWN
 * characters, into out. */
void tix_curve_key_short(const char *public_txt, char out[TIX_CURVE_KEY_SHOWN + 1]);

/* Writes a new key pair as dir/name (public) and dir/name_secret (mode
 * 0600) and returns its public key. Refuses (TIX_ERR_CONFIG, why) when
 * either file exists or name is not a plain file name. */
tix_err tix_curve_keygen(const char *dir, const char *name, char public_txt[TIX_CURVE_KEY_TXT_BYTES], char *why,
                         size_t why_size);

#endif
