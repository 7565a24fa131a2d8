/* migrate_email_fold.c — migration 5: artists' e-mails stored before Unicode folding (only
 * ASCII letters lowered, e.g. "ÜnÏ@exÄmple.com") are re-stored under today's folded key, so
 * another spelling of the same address is one account again.
 *
 * The idea: SQL has no Unicode case folding, so this step is C and runs inside the migration
 * transaction. Rows are visited oldest first (created_at, then id). A row already under its
 * folded key keeps it. When the folded key already belongs to another row (two old spellings
 * of one address, or a newer sign-up under the folded key), this row keeps its old key and
 * one line is logged: nothing is lost and log-in still finds it under its old form
 * (oma_auth_login also tries the ASCII-lowered spelling and both candidate rows).
 */
#include "server/auth.h"
#include "server/store/db_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMAIL_MAX 1024   /* stored keys are at most 254 bytes; anything longer is left alone */

typedef struct row {
    char *id, *email;
} row;

static void free_rows(row *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].id);
        free(r[i].email);
    }
    free(r);
}

/* All (id, email) pairs, oldest first; -1 on error. */
static int load_rows(oma_db *db, row **out, size_t *nout)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, email FROM artists ORDER BY created_at, id", &st) != 0) return -1;
    row *r = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = oma_stmt_step(st)) == 1) {
        const char *id = oma_stmt_text(st, 0), *em = oma_stmt_text(st, 1);
        if (!id || !em) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            row *g = realloc(r, nc * sizeof *g);
            if (!g) goto fail;
            r = g;
            cap = nc;
        }
        r[n].id = strdup(id);
        r[n].email = strdup(em);
        n++;
        if (!r[n - 1].id || !r[n - 1].email) goto fail;
    }
    oma_stmt_finalize(st);
    if (rc < 0) {
        free_rows(r, n);
        return -1;
    }
    *out = r;
    *nout = n;
    return 0;
fail:
    oma_stmt_finalize(st);
    free_rows(r, n);
    return -1;
}

/* 1 and the owner's id if some row has this email, 0 if none, -1 on error. */
static int key_owner(oma_db *db, const char *email, char *owner, size_t ownerlen)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id FROM artists WHERE email = ?", &st) != 0) return -1;
    if (oma_stmt_bind_text(st, 1, email) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    if (rc == 1) {
        const char *id = oma_stmt_text(st, 0);
        snprintf(owner, ownerlen, "%s", id ? id : "?");
    }
    oma_stmt_finalize(st);
    return rc;
}

int oma_migrate_email_fold(oma_db *db, char *err, size_t errlen)
{
    row *r = NULL;
    size_t n = 0;
    if (load_rows(db, &r, &n) != 0) {
        snprintf(err, errlen, "re-folding e-mails: %s", oma_db_errmsg(db));
        return -1;
    }
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        char folded[EMAIL_MAX], owner[128];
        if (strlen(r[i].email) >= EMAIL_MAX / 2) {
            fprintf(stderr, "oma: migration 5: account %s keeps its e-mail key: too long to fold\n", r[i].id);
            continue;
        }
        oma_auth_fold_email(r[i].email, folded, sizeof folded);
        if (strcmp(folded, r[i].email) == 0) continue;
        int own = key_owner(db, folded, owner, sizeof owner);
        if (own < 0) {
            ret = -1;
            break;
        }
        if (own == 1) {
            fprintf(stderr,
                    "oma: migration 5: account %s keeps its old e-mail key: its folded form belongs to "
                    "account %s\n",
                    r[i].id, owner);
            continue;
        }
        oma_stmt *st = NULL;
        int ok = oma_db_prepare(db, "UPDATE artists SET email = ? WHERE id = ?", &st) == 0 &&
                 oma_stmt_bind_text(st, 1, folded) == 0 && oma_stmt_bind_text(st, 2, r[i].id) == 0 &&
                 oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
        if (!ok) ret = -1;
    }
    if (ret != 0) snprintf(err, errlen, "re-folding e-mails: %s", oma_db_errmsg(db));
    free_rows(r, n);
    return ret;
}
