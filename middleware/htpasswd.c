#include "middleware/htpasswd.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/log.h"
#include "lib/core/str.h"

wh_htpasswd_kind wh_htpasswd_kind_of(const char *hash) {
  if (!hash)
    return WH_HTPASSWD_UNSUPPORTED;
  if (strncmp(hash, "$apr1$", 6) == 0)
    return WH_HTPASSWD_APR1;
  if (strncmp(hash, "$1$", 3) == 0)
    return WH_HTPASSWD_MD5;
  if (strncmp(hash, "{SHA}", 5) == 0)
    return WH_HTPASSWD_SHA;
  if (strncmp(hash, "$2", 2) == 0 && strchr("abxy", hash[2]) && hash[2] && hash[3] == '$')
    return WH_HTPASSWD_BCRYPT;
  return WH_HTPASSWD_UNSUPPORTED;
}

/* Lengths are not secret (they follow from the hash kind); contents are. */
static bool same(const char *a, const char *b) {
  size_t n = strlen(a);
  return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- $apr1$ ----
 * The one algorithm written here rather than taken from a library:
 * libxcrypt implements MD5-crypt only under the "$1$" magic, and Apache's
 * "$apr1$" differs from it in nothing but that magic string, which enters
 * the digest. This is Poul-Henning Kamp's md5crypt as in Apache's
 * apr_md5.c (apr_md5_encode) and go-http-auth's MD5Crypt (which Traefik
 * uses, and whose whole-salt handling is kept), over OpenSSL's EVP MD5. */

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static char *to64(char *s, unsigned long v, int n) {
  while (--n >= 0) {
    *s++ = itoa64[v & 0x3f];
    v >>= 6;
  }
  return s;
}

static bool md5_of(EVP_MD_CTX *ctx, const void *a, size_t an, const void *b, size_t bn,
                   const void *c, size_t cn, unsigned char out[16]) {
  return EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 && EVP_DigestUpdate(ctx, a, an) == 1 &&
         EVP_DigestUpdate(ctx, b, bn) == 1 && EVP_DigestUpdate(ctx, c, cn) == 1 &&
         EVP_DigestFinal_ex(ctx, out, NULL) == 1;
}

char *wh_htpasswd_apr1(const char *password, const char *salt) {
  static const char magic[] = "$apr1$";
  const size_t ml = sizeof magic - 1;
  size_t pl = strlen(password);
  size_t sl = strcspn(salt, "$");
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char fin[16];
  char *out = NULL;
  bool ok = ctx != NULL;

  /* alternate sum: MD5(pw salt pw) */
  ok = ok && md5_of(ctx, password, pl, salt, sl, password, pl, fin);
  ok = ok && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
       EVP_DigestUpdate(ctx, password, pl) == 1 && EVP_DigestUpdate(ctx, magic, ml) == 1 &&
       EVP_DigestUpdate(ctx, salt, sl) == 1;
  for (size_t left = pl; ok && left > 0; left -= left > 16 ? 16 : left)
    ok = EVP_DigestUpdate(ctx, fin, left > 16 ? 16 : left) == 1;
  /* the historical oddity: a zero byte for set bits, pw[0] for clear ones */
  for (size_t i = pl; ok && i; i >>= 1)
    ok = EVP_DigestUpdate(ctx, (i & 1) ? "" : password, 1) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, fin, NULL) == 1;

  /* 1000 rounds to slow brute force down (as slow as it was in 1994) */
  for (int i = 0; ok && i < 1000; i++) {
    const void *a = (i & 1) ? (const void *)password : fin;
    size_t an = (i & 1) ? pl : 16;
    const void *c = (i & 1) ? (const void *)fin : password;
    size_t cn = (i & 1) ? 16 : pl;
    ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 && EVP_DigestUpdate(ctx, a, an) == 1 &&
         (i % 3 == 0 || EVP_DigestUpdate(ctx, salt, sl) == 1) &&
         (i % 7 == 0 || EVP_DigestUpdate(ctx, password, pl) == 1) &&
         EVP_DigestUpdate(ctx, c, cn) == 1 && EVP_DigestFinal_ex(ctx, fin, NULL) == 1;
  }
  EVP_MD_CTX_free(ctx);

  if (ok && (out = malloc(ml + sl + 1 + 22 + 1)) != NULL) {
    char *p = out;
    memcpy(p, magic, ml);
    p += ml;
    memcpy(p, salt, sl);
    p += sl;
    *p++ = '$';
    p = to64(p, ((unsigned long)fin[0] << 16) | ((unsigned long)fin[6] << 8) | fin[12], 4);
    p = to64(p, ((unsigned long)fin[1] << 16) | ((unsigned long)fin[7] << 8) | fin[13], 4);
    p = to64(p, ((unsigned long)fin[2] << 16) | ((unsigned long)fin[8] << 8) | fin[14], 4);
    p = to64(p, ((unsigned long)fin[3] << 16) | ((unsigned long)fin[9] << 8) | fin[15], 4);
    p = to64(p, ((unsigned long)fin[4] << 16) | ((unsigned long)fin[10] << 8) | fin[5], 4);
    p = to64(p, fin[11], 2);
    *p = '\0';
  }
  OPENSSL_cleanse(fin, sizeof fin);
  return out;
}

static bool verify_apr1(const char *hash, const char *password) {
  const char *salt = hash + 6;
  if (!strchr(salt, '$')) /* go-http-auth wants "$magic$salt$..." */
    return false;
  char *mine = wh_htpasswd_apr1(password, salt);
  bool ok = mine && same(mine, hash);
  free(mine);
  return ok;
}

/* ---- {SHA} ---- */

static bool verify_sha(const char *hash, const char *password) {
  unsigned char md[SHA_DIGEST_LENGTH];
  unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  if (!SHA1((const unsigned char *)password, strlen(password), md))
    return false;
  EVP_EncodeBlock(b64, md, sizeof md);
  bool ok = same((const char *)b64, hash + 5);
  OPENSSL_cleanse(md, sizeof md);
  return ok;
}

/* ---- $1$ and bcrypt: libxcrypt ---- */

/* setting is the stored hash (crypt reads its salt and cost from it). The
 * result is compared from offset skip on. */
static bool verify_crypt(const char *setting, const char *hash, size_t skip, const char *password) {
  /* 32 KiB: heap rather than a worker's stack */
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd)
    return false;
  const char *r = crypt_rn(password, setting, cd, (int)sizeof *cd);
  bool ok = r && r[0] != '*' && strlen(r) > skip && same(r + skip, hash + skip);
  OPENSSL_cleanse(cd, sizeof *cd);
  free(cd);
  return ok;
}

bool wh_htpasswd_verify(const char *hash, const char *password) {
  if (!hash || !password)
    return false;
  switch (wh_htpasswd_kind_of(hash)) {
  case WH_HTPASSWD_APR1:
    return verify_apr1(hash, password);
  case WH_HTPASSWD_SHA:
    return verify_sha(hash, password);
  case WH_HTPASSWD_MD5:
    return verify_crypt(hash, hash, 0, password);
  case WH_HTPASSWD_BCRYPT: {
    /* Go's bcrypt (Traefik) runs the same, correct algorithm for all four
     * prefixes; libxcrypt keeps crypt_blowfish's historical 8-bit-character
     * behaviours for "$2a$" and "$2x$". Computing as "$2b$" and comparing
     * past the prefix accepts what Traefik accepts. */
    char *setting = wh_strdup(hash);
    if (!setting)
      return false;
    setting[2] = 'b';
    bool ok = verify_crypt(setting, hash, 4, password);
    free(setting);
    return ok;
  }
  case WH_HTPASSWD_UNSUPPORTED:
    break;
  }
  return false;
}

/* ---- users files ---- */

#define FILE_MAX_BYTES (16u << 20)
#define CACHE_MAX 64

typedef struct cache_ent {
  char *path;
  wh_htpasswd_file *file; /* NULL while err */
  int err;
  /* identity of what file holds, to notice a change */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim, ctim;
  uint64_t checked_ms, used_ms;
} cache_ent;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cache_ent cache[CACHE_MAX];
static size_t cache_n;
static atomic_uint recheck_ms = 1000;

void wh_htpasswd_file_set_recheck_ms(unsigned ms) {
  atomic_store(&recheck_ms, ms);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void file_free(wh_htpasswd_file *f) {
  for (size_t i = 0; i < f->n; i++) {
    OPENSSL_cleanse(f->lines[i], strlen(f->lines[i]));
    free(f->lines[i]);
  }
  free(f->lines);
  free(f->lineno);
  free(f);
}

void wh_htpasswd_file_release(wh_htpasswd_file *f) {
  if (f && atomic_fetch_sub(&f->refs, 1) == 1)
    file_free(f);
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Go's strings.Split on "\n", TrimSpace, skip "" and "#..." (Traefik's
 * getLinesFromFile). */
static int parse_lines(const char *buf, size_t len, wh_htpasswd_file *f) {
  size_t cap = 0;
  unsigned no = 0;
  for (size_t pos = 0; pos <= len;) {
    const char *s = buf + pos;
    const char *nl = memchr(s, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - s) : len - pos;
    pos += ll + 1;
    no++;
    while (ll && is_space(*s))
      s++, ll--;
    while (ll && is_space(s[ll - 1]))
      ll--;
    if (ll == 0 || *s == '#')
      continue;
    if (f->n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nv = realloc(f->lines, cap * sizeof *nv);
      if (nv)
        f->lines = nv;
      unsigned *nn = realloc(f->lineno, cap * sizeof *nn);
      if (nn)
        f->lineno = nn;
      if (!nv || !nn)
        return -ENOMEM;
    }
    if (!(f->lines[f->n] = wh_strndup(s, ll)))
      return -ENOMEM;
    f->lineno[f->n++] = no;
  }
  return 0;
}

/* Reads path into a new file object; fills the identity of what was read. */
static int read_file(const char *path, cache_ent *e, wh_htpasswd_file **out) {
  /* O_NONBLOCK: a FIFO put in the file's place must not hang the worker */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  struct stat st;
  int rc = 0;
  char *buf = NULL;
  size_t len = 0;
  if (fstat(fd, &st) != 0)
    rc = -errno;
  else if (S_ISDIR(st.st_mode))
    rc = -EISDIR;
  else if (!S_ISREG(st.st_mode))
    rc = -EINVAL;
  else if ((uintmax_t)st.st_size > FILE_MAX_BYTES)
    rc = -EFBIG;
  else if (!(buf = malloc((size_t)st.st_size + 1)))
    rc = -ENOMEM;
  while (rc == 0 && len < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      rc = -errno;
    else if (r == 0)
      break; /* shrunk while reading: take what is there */
    else
      len += (size_t)r;
  }
  close(fd);
  wh_htpasswd_file *f = NULL;
  if (rc == 0 && !(f = calloc(1, sizeof *f)))
    rc = -ENOMEM;
  if (rc == 0)
    rc = parse_lines(buf, len, f);
  if (buf) {
    OPENSSL_cleanse(buf, len);
    free(buf);
  }
  if (rc != 0) {
    if (f)
      file_free(f);
    return rc;
  }
  atomic_init(&f->refs, 1);
  atomic_init(&f->reported, false);
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = st.st_size;
  e->mtim = st.st_mtim;
  e->ctim = st.st_ctim;
  *out = f;
  return 0;
}

static bool same_identity(const cache_ent *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
         e->ctim.tv_sec == st->st_ctim.tv_sec && e->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

static void ent_set_error(cache_ent *e, int err) {
  if (e->err != err)
    wh_log_error("basicAuth/digestAuth usersFile \"%s\": %s; every request answered 500", e->path,
                 strerror(-err));
  e->err = err;
  wh_htpasswd_file_release(e->file);
  e->file = NULL;
}

/* Caller holds cache_mu. */
static cache_ent *ent_for(const char *path, uint64_t now) {
  for (size_t i = 0; i < cache_n; i++)
    if (strcmp(cache[i].path, path) == 0)
      return &cache[i];
  char *p = wh_strdup(path);
  if (!p)
    return NULL;
  cache_ent *e;
  if (cache_n < CACHE_MAX) {
    e = &cache[cache_n++];
  } else { /* forget the least recently used path (its readers hold references) */
    e = &cache[0];
    for (size_t i = 1; i < cache_n; i++)
      if (cache[i].used_ms < e->used_ms)
        e = &cache[i];
    wh_htpasswd_file_release(e->file);
    free(e->path);
  }
  *e = (cache_ent){.path = p, .err = 0, .checked_ms = now};
  return e;
}

wh_htpasswd_file *wh_htpasswd_file_get(const char *path, int *err) {
  int dummy;
  if (!err)
    err = &dummy;
  if (!path || !*path) {
    *err = -ENOENT;
    return NULL;
  }
  uint64_t now = now_ms();
  wh_htpasswd_file *f = NULL;
  pthread_mutex_lock(&cache_mu);
  cache_ent *e = ent_for(path, now);
  if (!e) {
    pthread_mutex_unlock(&cache_mu);
    *err = -ENOMEM;
    return NULL;
  }
  bool fresh = !e->file && e->err == 0;
  if (fresh || now - e->checked_ms >= atomic_load(&recheck_ms)) {
    struct stat st;
    bool changed = true;
    if (!fresh && e->file && stat(path, &st) == 0)
      changed = !same_identity(e, &st);
    if (changed) {
      int rc = read_file(path, e, &f);
      if (rc != 0) {
        ent_set_error(e, rc);
      } else {
        if (e->err != 0)
          wh_log_info("usersFile \"%s\": readable again (%zu entries)", path, f->n);
        wh_htpasswd_file_release(e->file);
        e->file = f;
        e->err = 0;
        f = NULL;
      }
    }
    e->checked_ms = now;
  }
  e->used_ms = now;
  if (e->file) {
    f = e->file;
    atomic_fetch_add(&f->refs, 1);
  } else {
    *err = e->err ? e->err : -EIO;
  }
  pthread_mutex_unlock(&cache_mu);
  return f;
}
