/* test_db.c - opening one new database file from many processes at once
 * (fcgi/db.c): what a web server starting its FastCGI responders together
 * does. Every process must get a migrated database; none may exit on
 * "database is locked". */
#include "db.c"

#include <stdio.h>
#include <sys/wait.h>

#include "check.h"

#define PROCS 12
#define ROUNDS 5

static void test_open_race(void)
{
    char dir[] = "/tmp/pulse-test-db-XXXXXX", path[64];
    int round, i, ok = 0, status;
    pid_t pids[PROCS];

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    for (round = 0; round < ROUNDS; round++) {
        snprintf(path, sizeof path, "%s/r%d.db", dir, round);
        for (i = 0; i < PROCS; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                struct db *d = NULL;
                char *err = NULL;
                int rc = db_open(path, &d, &err);

                if (rc != 0)
                    fprintf(stderr, "db_open: %s\n", err ? err : "?");
                db_close(d);
                free(err);
                exit(rc == 0 ? 0 : 1); /* exit, not _exit: LeakSanitizer checks the child */
            }
        }
        for (i = 0; i < PROCS; i++)
            if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
                WEXITSTATUS(status) == 0)
                ok++;
    }
    CHECK_INT_EQ(ok, PROCS * ROUNDS);
    for (round = 0; round < ROUNDS; round++) {
        char f[96];
        static const char *const ext[] = {"", "-wal", "-shm"};
        for (i = 0; i < 3; i++) {
            snprintf(f, sizeof f, "%s/r%d.db%s", dir, round, ext[i]);
            unlink(f);
        }
    }
    rmdir(dir);
}

int main(void)
{
    test_open_race();
    return check_summary("test_db");
}
