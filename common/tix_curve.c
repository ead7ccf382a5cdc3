/*
 * tix_curve.c - certificate files, allow-lists and key generation over
 * czmq's zcert.
 *
 * Allow-list directories are read here rather than by czmq's zcertstore,
 * which walks subdirectories too: an operator who revokes a key by moving
 * it into clients/revoked/ must see it refused.
 */
#include "tix_curve.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "tix_util.h"

/* zcert_load appends "_secret" in a 256-byte buffer: stay well inside. */
#define CURVE_PATH_MAX_BYTES 240
#define CURVE_ZERO_KEY "0000000000000000000000000000000000000000" /* Z85 of 32 zero bytes */

struct tix_curve_allow {
    zhashx_t *keys; /* Z85 public key -> (void *) 1 */
    char *path;     /* as given */
    bool is_dir;    /* re-read when its stamp changes */
    uint64_t stamp; /* s_dir_stamp when keys were read */
};

static bool
s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Splits path into the certificate's base name and its secret file. */
static bool
s_cert_paths(const char *path, char *base, char *secret, char *why, size_t why_size)
{
    size_t len = strlen(path);
    if (len == 0 || len >= CURVE_PATH_MAX_BYTES) {
        snprintf(why, why_size, "certificate path is empty or longer than %d bytes", CURVE_PATH_MAX_BYTES - 1);
        return false;
    }
    if (s_ends_with(path, TIX_CURVE_SECRET_SUFFIX)) {
        snprintf(base, CURVE_PATH_MAX_BYTES, "%.*s", (int) (len - strlen(TIX_CURVE_SECRET_SUFFIX)), path);
        snprintf(secret, CURVE_PATH_MAX_BYTES + 8, "%s", path);
    } else {
        snprintf(base, CURVE_PATH_MAX_BYTES, "%s", path);
        snprintf(secret, CURVE_PATH_MAX_BYTES + 8, "%s" TIX_CURVE_SECRET_SUFFIX, path);
    }
    return true;
}

tix_err
tix_curve_pair_load(const char *path, tix_curve_pair_t *pair, char *why, size_t why_size)
{
    char base[CURVE_PATH_MAX_BYTES], secret[CURVE_PATH_MAX_BYTES + 8];
    memset(pair, 0, sizeof *pair);
    if (!s_cert_paths(path, base, secret, why, why_size))
        return TIX_ERR_CONFIG;
    struct stat st;
    if (stat(secret, &st) != 0) {
        snprintf(why, why_size, "secret key file %s: %s (tix keygen NAME writes NAME and NAME_secret)", secret,
                 strerror(errno));
        return TIX_ERR_CONFIG;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "secret key file %s is not a regular file", secret);
        return TIX_ERR_CONFIG;
    }
    if (st.st_mode & 077) {
        snprintf(why, why_size, "secret key file %s is accessible by group or others (mode %04o); run: chmod 600 %s",
                 secret, (unsigned) (st.st_mode & 07777), secret);
        return TIX_ERR_CONFIG;
    }
    zcert_t *cert = zcert_load(base);
    if (!cert || strcmp(zcert_secret_txt(cert), CURVE_ZERO_KEY) == 0) {
        snprintf(why, why_size, "secret key file %s holds no CURVE key pair (write one with tix keygen)", secret);
        zcert_destroy(&cert);
        return TIX_ERR_CONFIG;
    }
    snprintf(pair->public_txt, sizeof pair->public_txt, "%s", zcert_public_txt(cert));
    snprintf(pair->secret_txt, sizeof pair->secret_txt, "%s", zcert_secret_txt(cert));
    zcert_destroy(&cert);
    return TIX_OK;
}

tix_err
tix_curve_public_load(const char *path, char public_txt[TIX_CURVE_KEY_TXT_BYTES], char *why, size_t why_size)
{
    struct stat st;
    public_txt[0] = '\0';
    if (strlen(path) >= CURVE_PATH_MAX_BYTES || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "public key file %s: not a readable certificate file", path);
        return TIX_ERR_CONFIG;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        snprintf(why, why_size, "public key file %s holds no CURVE public key", path);
        return TIX_ERR_CONFIG;
    }
    snprintf(public_txt, TIX_CURVE_KEY_TXT_BYTES, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return TIX_OK;
}

tix_err
tix_curve_client_load(const char *secret_path, const char *server_path, tix_curve_client_t *keys, char *why,
                      size_t why_size)
{
    memset(keys, 0, sizeof *keys);
    tix_err err = tix_curve_pair_load(secret_path, &keys->own, why, why_size);
    if (err == TIX_OK)
        err = tix_curve_public_load(server_path, keys->server_txt, why, why_size);
    if (err != TIX_OK)
        memset(keys, 0, sizeof *keys); /* no secret left behind */
    return err;
}

tix_err
tix_curve_client_config(const char *secret_path, const char *server_path, tix_curve_client_t *keys,
                        const tix_curve_client_t **use, char *why, size_t why_size)
{
    bool secret = secret_path && *secret_path, server = server_path && *server_path;
    *use = NULL;
    if (!secret && !server)
        return TIX_OK;
    if (!secret || !server) {
        snprintf(why, why_size,
                 "--curve-secret (TIX_CURVE_SECRET) and --curve-server-key (TIX_CURVE_SERVER_KEY) "
                 "go together: set both for CURVE, or neither");
        return TIX_ERR_CONFIG;
    }
    char sub[400];
    if (tix_curve_pair_load(secret_path, &keys->own, sub, sizeof sub) != TIX_OK) {
        snprintf(why, why_size, "--curve-secret: %s", sub);
        return TIX_ERR_CONFIG;
    }
    if (tix_curve_public_load(server_path, keys->server_txt, sub, sizeof sub) != TIX_OK) {
        memset(keys, 0, sizeof *keys);
        snprintf(why, why_size, "--curve-server-key: %s", sub);
        return TIX_ERR_CONFIG;
    }
    *use = keys;
    return TIX_OK;
}

static void *
s_handle(void *sock)
{
    return zsock_is(sock) ? zsock_resolve(sock) : sock;
}

bool
tix_curve_client_apply(const tix_curve_client_t *keys, void *sock)
{
    void *h = s_handle(sock);
    const size_t n = TIX_CURVE_KEY_TXT_BYTES - 1;
    return zmq_setsockopt(h, ZMQ_CURVE_SERVERKEY, keys->server_txt, n) == 0 &&
           zmq_setsockopt(h, ZMQ_CURVE_PUBLICKEY, keys->own.public_txt, n) == 0 &&
           zmq_setsockopt(h, ZMQ_CURVE_SECRETKEY, keys->own.secret_txt, n) == 0;
}

bool
tix_curve_server_apply(const tix_curve_pair_t *pair, const char *zap_domain, void *sock)
{
    void *h = s_handle(sock);
    int on = 1;
    return zmq_setsockopt(h, ZMQ_CURVE_SERVER, &on, sizeof on) == 0 &&
           zmq_setsockopt(h, ZMQ_CURVE_SECRETKEY, pair->secret_txt, TIX_CURVE_KEY_TXT_BYTES - 1) == 0 &&
           zmq_setsockopt(h, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) == 0;
}

/* Calls fn for each regular file directly in dir (symbolic links followed,
 * as in a Kubernetes Secret volume), skipping subdirectories and names
 * starting with '.'. Returns false when dir cannot be read. */
static bool
s_dir_each(const char *dir, void (*fn)(const char *file, const struct stat *st, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char file[CURVE_PATH_MAX_BYTES];
        struct stat st;
        if (e->d_name[0] == '.' || (size_t) snprintf(file, sizeof file, "%s/%s", dir, e->d_name) >= sizeof file)
            continue; /* hidden, or too long for zcert_load */
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
            fn(file, &st, arg);
    }
    closedir(d);
    return true;
}

/* Mixes one file into a directory's stamp: order-independent (a sum), so
 * readdir's order does not matter. */
static void
s_stamp_file(const char *file, const struct stat *st, void *arg)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the name, then the metadata */
    for (const char *p = file; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    uint64_t meta[] = {(uint64_t) st->st_ino, (uint64_t) st->st_size, (uint64_t) st->st_mtim.tv_sec,
                       (uint64_t) st->st_mtim.tv_nsec};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        h = (h ^ meta[i]) * 1099511628211ULL;
    *(uint64_t *) arg += h;
}

/* What the directory's key files look like now: changes when one is added,
 * removed, renamed or rewritten. */
static uint64_t
s_dir_stamp(const char *dir)
{
    uint64_t stamp = 0;
    if (!s_dir_each(dir, s_stamp_file, &stamp))
        return UINT64_MAX; /* unreadable: a stamp no listing has (practically) */
    return stamp;
}

static void
s_load_file(const char *file, const struct stat *st, void *arg)
{
    (void) st;
    zcert_t *cert = zcert_load(file);
    if (cert)
        zhashx_update((zhashx_t *) arg, zcert_public_txt(cert), (void *) 1);
    zcert_destroy(&cert);
}

/* (Re-)reads the directory's keys. A directory that cannot be read lists
 * no one until it can. */
static void
s_dir_load(tix_curve_allow_t *self)
{
    zhashx_purge(self->keys);
    self->stamp = s_dir_stamp(self->path);
    s_dir_each(self->path, s_load_file, self->keys);
}

tix_curve_allow_t *
tix_curve_allow_new(const char *path, char *why, size_t why_size)
{
    struct stat st;
    if (strlen(path) >= CURVE_PATH_MAX_BYTES || stat(path, &st) != 0) {
        snprintf(why, why_size, "allow-list %s: %s", path,
                 strlen(path) >= CURVE_PATH_MAX_BYTES ? "path too long" : strerror(errno));
        return NULL;
    }
    tix_curve_allow_t *self = xcalloc(1, sizeof *self);
    self->path = xstrdup(path);
    self->keys = zhashx_new();
    self->is_dir = S_ISDIR(st.st_mode);
    if (self->is_dir) {
        s_dir_load(self);
        return self;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        snprintf(why, why_size, "allow-list %s: neither a directory nor a certificate file", path);
        tix_curve_allow_destroy(&self);
        return NULL;
    }
    zhashx_update(self->keys, zcert_public_txt(cert), (void *) 1);
    zcert_destroy(&cert);
    return self;
}

void
tix_curve_allow_destroy(tix_curve_allow_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tix_curve_allow_t *self = *self_p;
    zhashx_destroy(&self->keys);
    free(self->path);
    free(self);
    *self_p = NULL;
}

bool
tix_curve_allow_has(tix_curve_allow_t *self, const char *public_txt)
{
    if (!self)
        return false;
    if (self->is_dir && s_dir_stamp(self->path) != self->stamp)
        s_dir_load(self);
    return zhashx_lookup(self->keys, public_txt) != NULL;
}

const char *
tix_curve_allow_path(const tix_curve_allow_t *self)
{
    return self->path;
}

void
tix_curve_key_short(const char *public_txt, char out[TIX_CURVE_KEY_SHOWN + 1])
{
    snprintf(out, TIX_CURVE_KEY_SHOWN + 1, "%s", public_txt ? public_txt : "");
}

static bool
s_plain_name(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len < 100 && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !s_ends_with(name, TIX_CURVE_SECRET_SUFFIX);
}

tix_err
tix_curve_keygen(const char *dir, const char *name, char public_txt[TIX_CURVE_KEY_TXT_BYTES], char *why,
                 size_t why_size)
{
    char path[CURVE_PATH_MAX_BYTES + 128], secret[CURVE_PATH_MAX_BYTES + 136];
    struct stat st;
    if (!s_plain_name(name)) {
        snprintf(why, why_size, "key name '%s': expected a plain file name (no '/', not ending in _secret)", name);
        return TIX_ERR_CONFIG;
    }
    if (strlen(dir) + strlen(name) + 2 >= CURVE_PATH_MAX_BYTES) {
        snprintf(why, why_size, "key path too long");
        return TIX_ERR_CONFIG;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(secret, sizeof secret, "%s" TIX_CURVE_SECRET_SUFFIX, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "key directory %s does not exist", dir);
        return TIX_ERR_CONFIG;
    }
    if (lstat(path, &st) == 0 || lstat(secret, &st) == 0) {
        snprintf(why, why_size, "%s or its _secret file already exists; refusing to overwrite a key", path);
        return TIX_ERR_CONFIG;
    }
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, "name", "%s", name);
    mode_t old = umask(077); /* the secret file is never readable by others, not even for a moment */
    int rc = zcert_save(cert, path);
    umask(old);
    if (rc == 0 && chmod(secret, 0600) != 0)
        rc = -1;
    if (rc == 0) {
        snprintf(public_txt, TIX_CURVE_KEY_TXT_BYTES, "%s", zcert_public_txt(cert));
        chmod(path, 0644); /* the public file is meant to be copied around */
    } else {
        snprintf(why, why_size, "cannot write %s: %s", path, strerror(errno));
    }
    zcert_destroy(&cert);
    return rc == 0 ? TIX_OK : TIX_ERR_IO;
}
