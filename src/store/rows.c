/*
 * rows.c: walking message rows in bounded batches, UID range sets, and the
 * small growable lists used by the store.
 *
 * A walk loads at most STORE_BATCH rows (uid > after, ascending) into a batch
 * whose strings live in the batch's arena; the next batch starts after the
 * last UID seen. Nothing holds a statement open between batches, so the lock
 * can be dropped and callers may change rows in between.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

static void *grow(void *v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return v;
	size_t n = *cap < 16 ? 16 : *cap * 2;
	while (n < need)
		n *= 2;
	void *p = realloc(v, n * elem);
	if (p == NULL)
		abort();
	*cap = n;
	return p;
}

void uids_push(struct store_uids *u, uint32_t uid)
{
	if (u == NULL)
		return;
	u->v = grow(u->v, &u->cap_, u->n + 1, sizeof(*u->v));
	u->v[u->n++] = uid;
}

void store_uids_free(struct store_uids *u)
{
	free(u->v);
	memset(u, 0, sizeof(*u));
}

void id_list_push(struct id_list *l, int64_t id)
{
	l->v = grow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = id;
}

void id_list_free(struct id_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int range_cmp(const void *x, const void *y)
{
	const struct store_uidrange *a = x, *b = y;
	return a->first < b->first ? -1 : a->first > b->first;
}

struct store_uidrange *ranges_normalize(const struct store_uidrange *r, size_t n, size_t *n_r)
{
	struct store_uidrange *out = malloc(sizeof(*out) * (n == 0 ? 1 : n));
	if (out == NULL)
		abort();
	if (r == NULL || n == 0) {
		out[0] = (struct store_uidrange){1, UINT32_MAX};
		*n_r = 1;
		return out;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		/* RFC 9051 §9 seq-range: "a:b" equals "b:a". */
		uint32_t lo = r[i].first < r[i].last ? r[i].first : r[i].last;
		uint32_t hi = r[i].first < r[i].last ? r[i].last : r[i].first;
		if (hi == 0)
			continue;
		out[m++] = (struct store_uidrange){lo == 0 ? 1 : lo, hi};
	}
	qsort(out, m, sizeof(*out), range_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		if (k > 0 && (out[k - 1].last == UINT32_MAX || out[i].first <= out[k - 1].last + 1)) {
			if (out[i].last > out[k - 1].last)
				out[k - 1].last = out[i].last;
			continue;
		}
		out[k++] = out[i];
	}
	*n_r = k;
	return out;
}

struct msg_batch *rows_batch_new(void)
{
	struct msg_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		abort();
	b->arena = arena_new(16384, ARENA_PLAIN);
	return b;
}

void rows_batch_free(struct msg_batch **b)
{
	if (*b == NULL)
		return;
	arena_free(&(*b)->arena);
	free(*b);
	*b = NULL;
}

/* A BLOB or TEXT column copied into the arena with a NUL after it, or NULL. */
static const char *blob_col(sqlite3_stmt *st, int i, struct arena *arena, size_t *len_r)
{
	*len_r = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	char *c = arena_alloc(arena, n + 1);
	if (n > 0)
		memcpy(c, p, n);
	c[n] = '\0';
	*len_r = n;
	return c;
}

static void row_read(sqlite3_stmt *st, struct arena *arena, struct msg_row *r)
{
	struct store_msginfo *m = &r->info;
	m->id = sqlite3_column_int64(st, 0);
	m->content_id = sqlite3_column_int64(st, 1);
	m->uid = (uint32_t)sqlite3_column_int64(st, 2);
	m->modseq = (uint64_t)sqlite3_column_int64(st, 3);
	m->flags = (unsigned)sqlite3_column_int64(st, 4);
	m->keywords = db_col_text(st, 5, arena, true);
	m->received = sqlite3_column_int64(st, 6);
	m->saved = sqlite3_column_int64(st, 7);
	m->size = (uint64_t)sqlite3_column_int64(st, 8);
	r->mailbox_id = sqlite3_column_int64(st, 9);
	m->envelope = blob_col(st, 10, arena, &m->envelope_len);
	m->search_headers = blob_col(st, 11, arena, &m->search_headers_len);
	m->structure = blob_col(st, 12, arena, &m->structure_len);
}

int rows_load(struct store_account *a, int64_t mbox, uint32_t after, uint32_t last,
              uint64_t changedsince, enum rows_filter filter, struct msg_batch *b,
              struct error *err)
{
	sqlite3_stmt *st;
	arena_reset(b->arena);
	b->n = 0;
	/* the header texts' table is joined only when they are wanted */
	static const char with_texts[] =
		"SELECT m.id, m.content_id, m.uid, m.modseq, m.flags, m.keywords,"
		" c.received, m.saved, m.size, m.mailbox_id,"
		" CASE WHEN ?7 & 1 THEN h.envelope END,"
		" CASE WHEN ?7 & 2 THEN h.search_headers END,"
		" CASE WHEN ?7 & 4 THEN c.structure END"
		" FROM message m JOIN content c ON c.id = m.content_id"
		" LEFT JOIN header_text h ON h.content_id = m.content_id"
		" WHERE m.mailbox_id = ?1 AND m.uid > ?2 AND m.uid <= ?3 AND m.modseq > ?4"
		" AND (?5 = 0 OR (m.flags & 8) != 0)"
		" ORDER BY m.uid LIMIT ?6";
	static const char without_texts[] =
		"SELECT m.id, m.content_id, m.uid, m.modseq, m.flags, m.keywords,"
		" c.received, m.saved, m.size, m.mailbox_id, NULL, NULL,"
		" CASE WHEN ?7 & 4 THEN c.structure END"
		" FROM message m JOIN content c ON c.id = m.content_id"
		" WHERE m.mailbox_id = ?1 AND m.uid > ?2 AND m.uid <= ?3 AND m.modseq > ?4"
		" AND (?5 = 0 OR (m.flags & 8) != 0)"
		" ORDER BY m.uid LIMIT ?6";
	bool texts = (b->want & (STORE_LIST_ENVELOPE | STORE_LIST_SEARCH_HEADERS)) != 0;
	if (db_prepare(a, texts ? with_texts : without_texts, &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, (int64_t)changedsince);
	sqlite3_bind_int64(st, 5, filter == ROWS_DELETED);
	sqlite3_bind_int64(st, 6, STORE_BATCH);
	sqlite3_bind_int64(st, 7, b->want);
	int r;
	while ((r = db_step(a, st, err)) == 1)
		row_read(st, b->arena, &b->rows[b->n++]);
	db_finish(a, st);
	return r;
}
