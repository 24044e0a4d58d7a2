/*
 * fts.c: full-text index (SQLite FTS5) over subject, addresses and body text
 * given by the caller at delivery; rowid = content id, so copies share an
 * entry and it goes with the content.
 *
 * Queries are built only from quoted strings: every user term becomes an
 * FTS5 string ("..." with " doubled), optionally behind a column filter, and
 * terms are joined with AND. No user byte is ever FTS5 syntax, so input such
 * as NEAR(, *, - or a lone quote is searched for as text.
 */
#include "store/internal.h"

#include <string.h>

/* Longest FTS5 query built: terms are bounded in number, and each in size. */
#define FTS_QUERY_MAX 65536

int fts_index(struct store_account *a, int64_t content_id, const struct store_delivery *d,
              struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "INSERT INTO fts (rowid, subject, addresses, body) VALUES (?, ?, ?, ?)",
	               &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, content_id);
	db_bind_text(st, 2, d->subject);
	db_bind_text(st, 3, d->fts_addresses != NULL ? d->fts_addresses : d->from);
	db_bind_text(st, 4, d->fts_body);
	return db_run_stmt(a, st, err);
}

int fts_delete(struct store_account *a, int64_t content_id, struct error *err)
{
	return db_run(a, err, "DELETE FROM fts WHERE rowid = ?", 1, content_id);
}

static const char *const field_filter[] = {
	[STORE_SEARCH_ANY] = "",
	[STORE_SEARCH_SUBJECT] = "subject : ",
	[STORE_SEARCH_ADDRESSES] = "addresses : ",
	[STORE_SEARCH_BODY] = "body : ",
};

/* Appends term as an FTS5 string: "..." with every " doubled. */
static int quote_term(struct buf *q, const char *term)
{
	int r = buf_append_char(q, '"');
	for (const char *p = term; *p != '\0' && r == 0; p++)
		r = *p == '"' ? buf_append_str(q, "\"\"") : buf_append_char(q, *p);
	return r == 0 ? buf_append_char(q, '"') : -1;
}

static int build_query(enum store_search_field field, const char *const *terms, size_t n,
                       struct buf *q, struct error *err)
{
	if ((unsigned)field > STORE_SEARCH_BODY)
		return error_set(err, ERR_INVALID, "unknown search field");
	if (n == 0 || n > STORE_SEARCH_TERMS_MAX)
		return error_set(err, ERR_INVALID, "between 1 and %d search terms",
		                 STORE_SEARCH_TERMS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (terms[i][0] == '\0')
			continue;
		if ((q->len > 0 && buf_append_str(q, " AND ") != 0) ||
		    buf_append_str(q, field_filter[field]) != 0 || quote_term(q, terms[i]) != 0)
			return error_set(err, ERR_INVALID, "search terms too long");
	}
	if (q->len == 0)
		return error_set(err, ERR_INVALID, "empty search terms");
	return 0;
}

static int run_search(struct store_account *a, int64_t mbox, const char *q, struct store_uids *out,
                      struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT m.uid FROM fts JOIN message m ON m.content_id = fts.rowid"
	               " WHERE fts MATCH ?1 AND m.mailbox_id = ?2 ORDER BY m.uid", &st, err) != 0)
		return -1;
	db_bind_text(st, 1, q);
	sqlite3_bind_int64(st, 2, mbox);
	int r;
	while ((r = db_step(a, st, err)) == 1)
		uids_push(out, (uint32_t)sqlite3_column_int64(st, 0));
	db_finish(a, st);
	return r;
}

int store_search(struct store_account *a, int64_t mbox, enum store_search_field field,
                 const char *const *terms, size_t nterms, struct store_uids *out,
                 struct error *err)
{
	struct buf q;
	buf_init(&q, FTS_QUERY_MAX);
	int r = build_query(field, terms, nterms, &q, err);
	size_t n0 = out->n;
	if (r == 0) {
		store_lock(a);
		r = run_search(a, mbox, q.data, out, err);
		store_unlock(a);
	}
	if (r != 0)
		out->n = n0;
	buf_free(&q);
	return r;
}
