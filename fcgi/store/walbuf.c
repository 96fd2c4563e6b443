/* walbuf.c - the WAL's writes gathered (see walbuf.h).
 *
 * A WAL frame is a 24-byte header (its page number, then the database's
 * size in pages after the commit when the frame ends a transaction, else
 * 0) followed by the page (https://sqlite.org/fileformat2.html#walformat).
 * A transaction's frames are written one after the other, so they are
 * held while each write continues the last; the page that follows a
 * commit frame's header writes them all, and its write reports the
 * result. The frames are not published before: SQLite writes the
 * wal-index header that names them after that write, behind the main
 * file's xShmBarrier (wal.c, walIndexWriteHdr).
 *
 * Each WAL is paired with its connection's main file when it opens
 * (sqlite3_filename_database gives the very name the main file was opened
 * with), and only that file's shared-memory calls act on it:
 * - the release of the write lock drops what is held: only frames of a
 *   transaction that did not commit can be (its commit frame wrote them),
 *   nothing reads past the published end, and a late write could land on
 *   the next writer's frames;
 * - its other lock calls and its barrier write what is held first.
 * After the commit SQLite may rewrite the checksums of earlier frames (a
 * page written twice in one transaction): those writes go straight
 * through until the next of those calls. A write that fails outside a
 * commit frame (held frames written before a read, say) fails the
 * transaction's commit too, so that a commit never names frames that are
 * not in the file. */
#include "store/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define HELD_MAX (1 << 20)  /* frames held at most; a bigger transaction is written in pieces this big */
#define FRAME_HEADER 24
/* The unix VFS writes at most this much a call (os_unix.c masks a
 * write's length with 0x1ffff: it never writes more than a page). */
#define WRITE_MAX ((size_t)1 << 16)
/* wal.c's WAL_WRITE_LOCK: the shared-memory lock a writer holds. */
#define WRITE_LOCK 0

struct wfile {
    sqlite3_file base;
    sqlite3_file *real;         /* the file of the VFS underneath, in the same allocation */
    const char *name;           /* SQLite's name for it (valid until xClose) */
    struct wfile *pair;         /* a WAL's main file and a main file's WAL (mu), or NULL */
    struct wfile *next_main;    /* the main files open in this process (mu) */
    /* a WAL's, used by its connection's thread only: */
    unsigned char *held;        /* frames not written yet (owned) */
    size_t len, cap;
    sqlite3_int64 at;           /* where held starts in the file */
    int commit_header;          /* the last write was a commit frame's header... */
    sqlite3_int64 header_end;   /* ...which ends here */
    int through;                /* the commit is written, or no pair: writes go straight through */
    int lost;                   /* frames of this transaction could not be written: its commit fails */
    sqlite3_int64 lost_at;      /* where the first of them starts */
};

/* Guards the pairing: the list of main files and the pair pointers. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct wfile *mains;
static sqlite3_vfs *under;
static sqlite3_vfs vfs;

#define REAL_OFFSET ((sizeof(struct wfile) + 7) & ~(size_t)7)

/* Writes what is held; it is dropped whatever the result. */
static int write_held(struct wfile *w)
{
    int rc = SQLITE_OK;
    size_t done, n;

    for (done = 0; done < w->len && rc == SQLITE_OK; done += n) {
        n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;
        rc = w->real->pMethods->xWrite(w->real, w->held + done, (int)n, w->at + (sqlite3_int64)done);
    }
    if (rc != SQLITE_OK && (!w->lost || w->at < w->lost_at)) {
        w->lost = 1;
        w->lost_at = w->at;
    }
    w->len = 0;
    return rc;
}

static int held_append(struct wfile *w, const void *p, int n, sqlite3_int64 at)
{
    size_t want = w->len + (size_t)n, cap = want < 2 * w->cap ? 2 * w->cap : want;
    unsigned char *grown;

    if (want > w->cap) {
        if ((grown = realloc(w->held, cap)) == NULL)
            return -1;
        w->held = grown;
        w->cap = cap;
    }
    if (w->len == 0)
        w->at = at;
    memcpy(w->held + w->len, p, (size_t)n);
    w->len = want;
    return 0;
}

/* A frame header whose "database size after commit" is not 0. */
static int is_commit_header(const unsigned char *p, int n)
{
    return n == FRAME_HEADER && (p[4] | p[5] | p[6] | p[7]) != 0;
}

static int write_now(struct wfile *w, const void *p, int n, sqlite3_int64 at)
{
    int rc = write_held(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xWrite(w->real, p, n, at);
}

static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 at)
{
    struct wfile *w = (struct wfile *)f;
    int ends_commit = w->commit_header && at == w->header_end;
    int rc;

    /* A frame appended at or before the lost ones: SQLite went back past
     * them (a rollback, or a savepoint's, without the write lock's release
     * that exclusive locking mode skips). */
    if (w->lost && !w->through && n == FRAME_HEADER && at <= w->lost_at)
        w->lost = 0;
    w->commit_header = is_commit_header(p, n);
    w->header_end = at + n;
    if (ends_commit && w->lost) {
        w->len = 0;
        return SQLITE_IOERR_WRITE;
    }
    if (w->through || n > HELD_MAX / 2)
        return write_now(w, p, n, at);
    if (w->len > 0 && (at != w->at + (sqlite3_int64)w->len || w->len + (size_t)n > HELD_MAX) &&
        (rc = write_held(w)) != SQLITE_OK)
        return rc;
    if (held_append(w, p, n, at) != 0)
        rc = write_now(w, p, n, at);
    else
        rc = ends_commit ? write_held(w) : SQLITE_OK;
    if (ends_commit)
        w->through = 1;
    return rc;
}

/* Writes what is held before an operation that reads or resizes the file;
 * a failure is an I/O error, which makes SQLite roll the whole
 * transaction back (a full disk would be taken as one statement's). */
static int settle(struct wfile *w)
{
    return write_held(w) == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 at)
{
    struct wfile *w = (struct wfile *)f;
    int rc = settle(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, n, at);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wfile *w = (struct wfile *)f;
    int rc = settle(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    struct wfile *w = (struct wfile *)f;
    int rc = settle(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct wfile *w = (struct wfile *)f;
    int rc = settle(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_control(sqlite3_file *f, int op, void *arg)
{
    struct wfile *w = (struct wfile *)f;
    int rc = settle(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

/* What is held when a WAL closes belongs to no commit: dropped. */
static int wal_close(sqlite3_file *f)
{
    struct wfile *w = (struct wfile *)f;

    pthread_mutex_lock(&mu);
    if (w->pair != NULL)
        w->pair->pair = NULL;
    w->pair = NULL;
    pthread_mutex_unlock(&mu);
    free(w->held);
    w->held = NULL;
    w->len = 0;
    return w->real->pMethods->xClose(w->real);
}

static int main_close(sqlite3_file *f)
{
    struct wfile *m = (struct wfile *)f, **pp;

    pthread_mutex_lock(&mu);
    for (pp = &mains; *pp != NULL; pp = &(*pp)->next_main)
        if (*pp == m) {
            *pp = m->next_main;
            break;
        }
    if (m->pair != NULL) {   /* (SQLite closes the WAL first) */
        m->pair->pair = NULL;
        m->pair->through = 1;
    }
    m->pair = NULL;
    pthread_mutex_unlock(&mu);
    return m->real->pMethods->xClose(m->real);
}

static int main_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct wfile *m = (struct wfile *)f, *w = m->pair;

    if (w != NULL && offset == WRITE_LOCK && (flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE)) {
        w->len = 0;
        w->lost = 0;
        w->through = 0;
        w->commit_header = 0;
    } else if (w != NULL) {
        (void)write_held(w);   /* (a failure fails the transaction's commit) */
    }
    return m->real->pMethods->xShmLock(m->real, offset, n, flags);
}

static void main_shm_barrier(sqlite3_file *f)
{
    struct wfile *m = (struct wfile *)f, *w = m->pair;

    /* Frames that cannot be written must not be published: SQLite writes
     * the header that names them after this call, which cannot fail. A
     * commit's frames are written at its commit frame, so none should be
     * held here; if some are and cannot be written, the process stops:
     * the header is left half written, and the next connection rebuilds
     * the index from the frames that are whole. */
    if (w != NULL) {
        w->through = 0;
        w->commit_header = 0;
        if (w->len > 0 && (write_held(w) != SQLITE_OK || w->lost)) {
            log_error("the WAL's frames could not be written before their header: stopping");
            abort();
        }
    }
    m->real->pMethods->xShmBarrier(m->real);
}

/* ---- the rest goes straight to the file underneath */

#define REAL(f) (((struct wfile *)(f))->real)

static int fw_read(sqlite3_file *f, void *p, int n, sqlite3_int64 at)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, at);
}
static int fw_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 at)
{
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, at);
}
static int fw_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int fw_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int fw_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int fw_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}
static int fw_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int fw_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int fw_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int fw_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fw_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fw_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}
static int fw_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void fw_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fw_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int fw_fetch(sqlite3_file *f, sqlite3_int64 at, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), at, n, p);
}
static int fw_unfetch(sqlite3_file *f, sqlite3_int64 at, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), at, p);
}

static const sqlite3_io_methods wal_io = {
    3, wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_size, fw_lock, fw_unlock, fw_reserved,
    wal_control, fw_sector, fw_device, fw_shm_map, fw_shm_lock, fw_shm_barrier, fw_shm_unmap, fw_fetch, fw_unfetch,
};

static const sqlite3_io_methods main_io = {
    3, main_close, fw_read, fw_write, fw_truncate, fw_sync, fw_size, fw_lock, fw_unlock, fw_reserved,
    fw_control, fw_sector, fw_device, fw_shm_map, main_shm_lock, main_shm_barrier, fw_shm_unmap, fw_fetch,
    fw_unfetch,
};

/* ---- the VFS */

/* A WAL is paired with the main file its name was made from, or written
 * straight through when there is none. Under mu. */
static void pair_wal(struct wfile *w)
{
    const char *db = sqlite3_filename_database(w->name);
    struct wfile *m;

    w->through = 1;
    for (m = mains; m != NULL; m = m->next_main)
        if (m->name == db && m->pair == NULL) {
            m->pair = w;
            w->pair = m;
            w->through = 0;
            return;
        }
}

static int vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    struct wfile *w = (struct wfile *)f;
    int wal = (flags & SQLITE_OPEN_WAL) != 0, rc;

    (void)v;
    /* Other files are the underlying VFS's own, at the start of the
     * allocation (szOsFile covers them). */
    if ((!wal && !(flags & SQLITE_OPEN_MAIN_DB)) || name == NULL)
        return under->xOpen(under, name, f, flags, out_flags);
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)((char *)w + REAL_OFFSET);
    rc = under->xOpen(under, name, w->real, flags, out_flags);
    /* SQLite closes a file whose methods are set, even after an error. */
    if (w->real->pMethods == NULL)
        return rc;
    if (w->real->pMethods->iVersion < 3) {   /* (not a VFS this wraps: its own file) */
        w->real->pMethods->xClose(w->real);
        return under->xOpen(under, name, f, flags, out_flags);
    }
    w->name = name;
    pthread_mutex_lock(&mu);
    if (wal) {
        pair_wal(w);
    } else {
        w->next_main = mains;
        mains = w;
    }
    pthread_mutex_unlock(&mu);
    f->pMethods = wal ? &wal_io : &main_io;
    return rc;
}

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return under->xDelete(under, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return under->xAccess(under, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return under->xFullPathname(under, name, n, out);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return under->xRandomness(under, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return under->xSleep(under, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return under->xCurrentTime(under, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return under->xGetLastError(under, n, out);
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return under->xCurrentTimeInt64(under, out);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = -1;

static void setup(void)
{
    sqlite3_vfs *u = sqlite3_vfs_find(NULL);

    if (u == NULL || u->iVersion < 2 || u->xCurrentTimeInt64 == NULL) {
        log_warn("walbuf: no default VFS to build on; the WAL is written as SQLite does");
        return;
    }
    under = u;
    vfs = *u;   /* version, path length, the dynamic-library and system-call hooks */
    vfs.pNext = NULL;
    vfs.szOsFile = (int)(REAL_OFFSET + (size_t)u->szOsFile);
    vfs.zName = "pulse-walbuf";
    vfs.pAppData = NULL;
    vfs.xOpen = vfs_open;
    vfs.xDelete = vfs_delete;
    vfs.xAccess = vfs_access;
    vfs.xFullPathname = vfs_full_pathname;
    vfs.xRandomness = vfs_randomness;
    vfs.xSleep = vfs_sleep;
    vfs.xCurrentTime = vfs_current_time;
    vfs.xGetLastError = vfs_last_error;
    vfs.xCurrentTimeInt64 = vfs_current_time64;
    if (sqlite3_vfs_register(&vfs, 1) != SQLITE_OK) {
        log_warn("walbuf: cannot register the VFS; the WAL is written as SQLite does");
        return;
    }
    registered = 0;
}

int walbuf_register(void)
{
    pthread_once(&once, setup);
    return registered;
}
