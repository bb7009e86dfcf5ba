/*
 * inotify-helper — the Fustor agent's inotify reader, run as a child process.
 *
 * Why a process: Node's watchers hide IN_CLOSE_WRITE, rename cookies and IN_Q_OVERFLOW. This program
 * drains the kernel queue as fast as it fills and buffers the records in its own memory, so a slow or
 * GC-paused Node process does not overflow the kernel queue.
 *
 * stdin  — one command per line (`<id>` is the caller's decimal watch id, 1..4294967294):
 *            add <id> <hex bytes of the directory path>
 *            rm <id>
 *          The path is hex-encoded so that any byte except NUL survives (newlines included).
 * stdout — binary records, little-endian, a 16-byte header then the name bytes:
 *            u8 type | u8 0 | u16 name_len | u32 id | u32 mask | u32 arg | name[name_len]
 *          EVENT    id=watch id, mask=inotify mask, arg=cookie, name=entry name ('' for the dir itself)
 *          ADDED    reply to add: arg=kernel wd           ERROR   reply to add: arg=errno
 *          REMOVED  reply to rm: arg=0 or errno           OVERFLOW the kernel queue overflowed
 *          READY    first record, arg=protocol version    FATAL   inotify_init1 failed: arg=errno
 *          A command that cannot be parsed gets an ERROR with arg=EINVAL (id=0xFFFFFFFF if unknown).
 * Exit: 0 on stdin EOF after flushing stdout; 1 on a fatal error (inotify_init1, out of memory).
 * See src/agent/fs/inotify/README.md for the full contract.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#ifndef IN_MASK_CREATE
#define IN_MASK_CREATE 0x10000000 /* Linux >= 4.18: fail with EEXIST instead of reusing a watch */
#endif

enum { R_EVENT = 1, R_ADDED = 2, R_ERROR = 3, R_REMOVED = 4, R_OVERFLOW = 5, R_READY = 6, R_FATAL = 7 };
#define PROTOCOL_VERSION 1u
#define NO_ID 0xFFFFFFFFu
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
                    IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define OUT_SOFT_CAP (64u << 20)     /* stop draining the kernel while this much output is unsent */
#define LINE_CAP (2 * 4096 + 64)     /* "add <id> " + hex of a PATH_MAX path */

/* ---- u32 -> u32 hash map: open addressing, linear probing, backward-shift delete; key 0 = empty ---- */
typedef struct { uint32_t *k, *v; size_t cap, len; } map_t;

static size_t home(const map_t *m, uint32_t key) { return (key * 2654435761u) & (m->cap - 1); }

static long map_index(const map_t *m, uint32_t key) {
  if (m->cap == 0) return -1;
  for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
    if (m->k[i] == key) return (long)i;
    if (m->k[i] == 0) return -1;
  }
}

static uint32_t *map_get(map_t *m, uint32_t key) {
  long i = map_index(m, key);
  return i < 0 ? NULL : &m->v[i];
}

static int map_put(map_t *m, uint32_t key, uint32_t val) {
  if ((m->len + 1) * 2 > m->cap) { /* keep load <= 50 % so probes stay short */
    map_t n = { NULL, NULL, m->cap ? m->cap * 2 : 1024, 0 };
    n.k = calloc(n.cap, sizeof *n.k);
    n.v = calloc(n.cap, sizeof *n.v);
    if (!n.k || !n.v) { free(n.k); free(n.v); return -1; }
    for (size_t i = 0; i < m->cap; i++) if (m->k[i]) map_put(&n, m->k[i], m->v[i]);
    free(m->k); free(m->v);
    *m = n;
  }
  size_t i = home(m, key);
  while (m->k[i] != 0 && m->k[i] != key) i = (i + 1) & (m->cap - 1);
  if (m->k[i] == 0) m->len++;
  m->k[i] = key; m->v[i] = val;
  return 0;
}

static void map_del(map_t *m, uint32_t key) {
  long found = map_index(m, key);
  if (found < 0) return;
  size_t mask = m->cap - 1, i = (size_t)found, j = i;
  for (;;) { /* shift back every follower whose home is not cyclically within (i, j] */
    j = (j + 1) & mask;
    if (m->k[j] == 0) break;
    size_t h = home(m, m->k[j]);
    int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (!stays) { m->k[i] = m->k[j]; m->v[i] = m->v[j]; i = j; }
  }
  m->k[i] = 0;
  m->len--;
}

static map_t wd_to_id, id_to_wd;

/* ---- output buffer: records accumulate here and leave with one write() per loop turn ---- */
static uint8_t *out;
static size_t out_len, out_off, out_cap;

static void put32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

static void emit(uint8_t type, uint32_t id, uint32_t mask, uint32_t arg, const char *name, size_t nlen) {
  if (nlen > 0xFFFF) nlen = 0xFFFF; /* cannot happen: NAME_MAX is 255 */
  if (out_off > 0 && out_off == out_len) out_off = out_len = 0;
  if (out_len + 16 + nlen > out_cap) {
    if (out_off > 0) { memmove(out, out + out_off, out_len - out_off); out_len -= out_off; out_off = 0; }
    size_t cap = out_cap ? out_cap : 1 << 16;
    while (cap < out_len + 16 + nlen) cap *= 2;
    if (cap != out_cap) {
      uint8_t *grown = realloc(out, cap);
      if (!grown) { fputs("inotify-helper: out of memory\n", stderr); _exit(1); }
      out = grown; out_cap = cap;
    }
  }
  uint8_t *p = out + out_len;
  p[0] = type; p[1] = 0; p[2] = (uint8_t)nlen; p[3] = (uint8_t)(nlen >> 8);
  put32(p + 4, id); put32(p + 8, mask); put32(p + 12, arg);
  if (nlen) memcpy(p + 16, name, nlen);
  out_len += 16 + nlen;
}

/* Write what the pipe accepts now; returns -1 when the reader is gone. */
static int flush_out(void) {
  while (out_off < out_len) {
    ssize_t n = write(STDOUT_FILENO, out + out_off, out_len - out_off);
    if (n > 0) { out_off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    return -1;
  }
  out_off = out_len = 0;
  return 0;
}

/* ---- commands ---- */
static int mask_create_ok = 1;

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parse a decimal id in 1..0xFFFFFFFE; returns NO_ID when invalid. */
static uint32_t parse_id(const char *s, char **end) {
  errno = 0;
  unsigned long v = strtoul(s, end, 10);
  if (errno || *end == s || v == 0 || v >= NO_ID) return NO_ID;
  return (uint32_t)v;
}

static void cmd_add(int ifd, uint32_t id, const char *hex) {
  static char path[LINE_CAP / 2 + 1];
  size_t n = strlen(hex);
  if (n == 0 || n % 2 || n / 2 >= sizeof path) { emit(R_ERROR, id, 0, n && n % 2 == 0 ? ENAMETOOLONG : EINVAL, NULL, 0); return; }
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
    if (hi < 0 || lo < 0 || (hi | lo) == 0) { emit(R_ERROR, id, 0, EINVAL, NULL, 0); return; } /* bad hex or NUL */
    path[i / 2] = (char)(hi << 4 | lo);
  }
  path[n / 2] = 0;
  if (map_get(&id_to_wd, id)) { emit(R_ERROR, id, 0, EEXIST, NULL, 0); return; } /* id already in use */
  int wd = inotify_add_watch(ifd, path, WATCH_MASK | (mask_create_ok ? IN_MASK_CREATE : 0));
  if (wd < 0 && errno == EINVAL && mask_create_ok) { /* kernel older than 4.18 */
    mask_create_ok = 0;
    wd = inotify_add_watch(ifd, path, WATCH_MASK);
  }
  if (wd < 0) { emit(R_ERROR, id, 0, (uint32_t)errno, NULL, 0); return; }
  uint32_t *owner = map_get(&wd_to_id, (uint32_t)wd);
  if (owner && map_get(&id_to_wd, *owner)) { /* same inode under another live id (old kernels only) */
    emit(R_ERROR, id, 0, EEXIST, NULL, 0);
    return;
  }
  if (map_put(&wd_to_id, (uint32_t)wd, id) || map_put(&id_to_wd, id, (uint32_t)wd)) {
    inotify_rm_watch(ifd, wd);
    map_del(&wd_to_id, (uint32_t)wd);
    emit(R_ERROR, id, 0, ENOMEM, NULL, 0);
    return;
  }
  emit(R_ADDED, id, 0, (uint32_t)wd, NULL, 0);
}

static void cmd_rm(int ifd, uint32_t id) {
  uint32_t *wd = map_get(&id_to_wd, id);
  if (!wd) { emit(R_REMOVED, id, 0, EINVAL, NULL, 0); return; }
  /* wd_to_id keeps the entry until IN_IGNORED arrives, so that event still names this id. */
  int rc = inotify_rm_watch(ifd, (int)*wd);
  map_del(&id_to_wd, id);
  emit(R_REMOVED, id, 0, rc < 0 ? (uint32_t)errno : 0, NULL, 0);
}

static void run_command(int ifd, char *line) {
  char *end;
  if (strncmp(line, "add ", 4) == 0) {
    uint32_t id = parse_id(line + 4, &end);
    if (id == NO_ID || *end != ' ') { emit(R_ERROR, NO_ID, 0, EINVAL, NULL, 0); return; }
    cmd_add(ifd, id, end + 1);
  } else if (strncmp(line, "rm ", 3) == 0) {
    uint32_t id = parse_id(line + 3, &end);
    if (id == NO_ID || *end != 0) { emit(R_ERROR, NO_ID, 0, EINVAL, NULL, 0); return; }
    cmd_rm(ifd, id);
  } else if (line[0] != 0) {
    emit(R_ERROR, NO_ID, 0, EINVAL, NULL, 0);
  }
}

/* Read what stdin has; run each complete line. Returns 0 on EOF. */
static int read_commands(int ifd) {
  static char line[LINE_CAP];
  static size_t len;
  static int too_long;
  char buf[1 << 16];
  ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n == 0) return 0;
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      line[len] = 0;
      if (too_long) emit(R_ERROR, NO_ID, 0, ENAMETOOLONG, NULL, 0);
      else run_command(ifd, line);
      len = 0; too_long = 0;
    } else if (len + 1 < sizeof line) {
      line[len++] = buf[i];
    } else {
      too_long = 1;
    }
  }
  return 1;
}

/* Drain the inotify fd into the output buffer (bounded by OUT_SOFT_CAP). */
static void drain_inotify(int ifd) {
  static char buf[256 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (out_len - out_off < OUT_SOFT_CAP) {
    ssize_t n = read(ifd, buf, sizeof buf);
    if (n <= 0) return; /* EAGAIN: queue empty */
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) { emit(R_OVERFLOW, NO_ID, ev->mask, 0, NULL, 0); continue; }
      uint32_t *idp = map_get(&wd_to_id, (uint32_t)ev->wd);
      if (!idp) continue; /* cannot happen: entries live until IN_IGNORED */
      uint32_t id = *idp;
      emit(R_EVENT, id, ev->mask, ev->cookie, ev->name, ev->len ? strnlen(ev->name, ev->len) : 0);
      if (ev->mask & IN_IGNORED) { /* the kernel dropped the watch: forget it */
        map_del(&wd_to_id, (uint32_t)ev->wd);
        uint32_t *wd = map_get(&id_to_wd, id);
        if (wd && *wd == (uint32_t)ev->wd) map_del(&id_to_wd, id);
      }
    }
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* a vanished reader shows up as EPIPE from write() */
  int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) {
    emit(R_FATAL, NO_ID, 0, (uint32_t)errno, "inotify_init1", 13);
    flush_out();
    return 1;
  }
  int out_flags = fcntl(STDOUT_FILENO, F_GETFL);
  fcntl(STDOUT_FILENO, F_SETFL, out_flags | O_NONBLOCK); /* never block on a busy reader */
  emit(R_READY, NO_ID, 0, PROTOCOL_VERSION, NULL, 0);
  struct pollfd fds[3] = { { STDIN_FILENO, POLLIN, 0 }, { ifd, POLLIN, 0 }, { STDOUT_FILENO, 0, 0 } };
  int status = 0;
  for (;;) {
    if (flush_out() < 0) { status = 1; break; }
    fds[1].events = out_len - out_off < OUT_SOFT_CAP ? POLLIN : 0;
    fds[2].events = out_len > out_off ? POLLOUT : 0;
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      status = 1;
      break;
    }
    if (fds[2].revents & (POLLERR | POLLHUP)) { status = 1; break; } /* the reader closed our stdout */
    if (fds[1].revents & POLLIN) drain_inotify(ifd);
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !read_commands(ifd)) break; /* EOF */
  }
  fcntl(STDOUT_FILENO, F_SETFL, out_flags); /* blocking: hand over everything before exiting */
  if (status == 0 && flush_out() < 0) status = 1;
  close(ifd);
  return status;
}
