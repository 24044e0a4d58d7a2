/*
 * thread.c: THREAD and UID THREAD (RFC 5256 §3, §4) with the algorithms
 * ORDEREDSUBJECT and REFERENCES.
 *
 * Per match tern keeps one container: the message's sequence number, sent
 * date (Date: from the store, else INTERNALDATE, RFC 5256 §2.2), base
 * subject and tree links. REFERENCES reads Message-ID, References and
 * In-Reply-To from each header block as it goes (step 1 needs them once,
 * in sequence order), so no header outlives its message. Every walk over
 * the trees is iterative: a reply chain of any length cannot exhaust the
 * stack.
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "message/message.h"

#include <stdlib.h>
#include <string.h>

/* Most references used from one message: the last ones, nearest to it. */
#define THREAD_REFS_MAX 128

#define NONE (-1)

struct container {
	int64_t date;
	uint32_t num;                /* what is written: UID or sequence number */
	uint32_t seq;                /* for ties */
	bool dummy;
	bool reply;                  /* RFC 5256 §2.1: the subject was a reply or forward */
	bool removed;                /* merged away from the root set (step 5) */
	const char *subject;         /* base subject, ASCII upper-cased */
	const char *id;              /* Message-ID in the id table, or NULL */
	int parent, child, next;     /* indexes, NONE */
};

struct forest {
	struct container *c;
	size_t n, cap;
	struct arena *a;             /* strings */
	/* open-addressing table: id (or subject) -> container index + 1 */
	int *slots;
	size_t n_slots;
	size_t used;
};

static int grow(struct forest *f)
{
	if (f->n < f->cap)
		return 0;
	size_t cap = f->cap ? f->cap * 2 : 64;
	struct container *c = realloc(f->c, cap * sizeof(*c));
	if (c == NULL)
		return -1;
	f->c = c;
	f->cap = cap;
	return 0;
}

static int new_container(struct forest *f)
{
	if (grow(f) != 0)
		return NONE;
	struct container *c = &f->c[f->n];
	memset(c, 0, sizeof(*c));
	c->parent = c->child = c->next = NONE;
	c->subject = "";
	return (int)f->n++;
}

/* ---- a string table (ids in step 1, subjects in step 5) ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void table_reset(struct forest *f, size_t want)
{
	free(f->slots);
	size_t n = 64;
	while (n < want * 2)
		n *= 2;
	f->slots = calloc(n, sizeof(*f->slots));
	f->n_slots = f->slots != NULL ? n : 0;
	f->used = 0;
}

static const char *key_of(const struct forest *f, int i, bool by_subject)
{
	return by_subject ? f->c[i].subject : f->c[i].id;
}

/* The slot of key: holding its container, or empty. */
static int *table_slot(struct forest *f, const char *key, bool by_subject)
{
	size_t mask = f->n_slots - 1;
	for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
		int *slot = &f->slots[i];
		if (*slot == 0 || strcmp(key_of(f, *slot - 1, by_subject), key) == 0)
			return slot;
	}
}

static int table_rehash(struct forest *f, bool by_subject)
{
	if ((f->used + 1) * 2 <= f->n_slots)
		return 0;
	int *old = f->slots;
	size_t n_old = f->n_slots;
	f->slots = calloc(n_old * 2, sizeof(*f->slots));
	if (f->slots == NULL) {
		f->slots = old;
		return -1;
	}
	f->n_slots = n_old * 2;
	for (size_t i = 0; i < n_old; i++)
		if (old[i] != 0)
			*table_slot(f, key_of(f, old[i] - 1, by_subject), by_subject) = old[i];
	free(old);
	return 0;
}

/* ---- links ---- */

static void unlink_child(struct forest *f, int c)
{
	int p = f->c[c].parent;
	if (p == NONE)
		return;
	int *link = &f->c[p].child;
	while (*link != c)
		link = &f->c[*link].next;
	*link = f->c[c].next;
	f->c[c].parent = f->c[c].next = NONE;
}

static void add_child(struct forest *f, int p, int c)
{
	f->c[c].parent = p;
	f->c[c].next = f->c[p].child;
	f->c[p].child = c;
}

/* Whether a is b or one of b's ancestors. A container without children
 * is nobody's ancestor: the usual case (a new message) costs nothing. */
static bool is_ancestor(const struct forest *f, int a, int b)
{
	if (f->c[a].child == NONE)
		return a == b;
	for (int x = b; x != NONE; x = f->c[x].parent)
		if (x == a)
			return true;
	return false;
}

/* The container of a referenced id, a dummy if the id is new. */
static int container_of(struct forest *f, const char *id)
{
	if (table_rehash(f, false) != 0)
		return NONE;
	int *slot = table_slot(f, id, false);
	if (*slot != 0)
		return *slot - 1;
	int c = new_container(f);
	if (c == NONE)
		return NONE;
	f->c[c].dummy = true;
	f->c[c].id = arena_strdup(f->a, id);
	*table_slot(f, id, false) = c + 1;
	f->used++;
	return c;
}

/* ---- reading the messages ---- */

struct msgdata {
	uint32_t num, seq;
	int64_t date;
	const char *subject;         /* decoded */
	const char *id;
	const char **refs;
	size_t n_refs;
};

static int read_message(struct imapsrv_session *s, uint32_t uid, bool uid_mode, bool headers,
                        struct arena *a, struct msgdata *md, struct error *e)
{
	struct store_msgdetail d;
	memset(md, 0, sizeof(*md));
	if (store_msg_get(s->sel->acct, s->sel->mailbox_id, uid, a, &d, e) != 0)
		return -1;
	md->seq = imapsrv_seq_of(s->sel, uid);
	md->num = uid_mode ? uid : md->seq;
	/* RFC 5256 §2.2: the sent date, INTERNALDATE when there is none */
	md->date = d.date != 0 ? d.date : d.info.received;
	md->subject = d.subject;
	if (!headers)
		return 0;
	struct message_headers h;
	if (imapsrv_msg_header(s, uid, a, &h, e) != 0)
		return -1;
	const char *v = message_header_get(a, &h, "Message-ID");
	const char **ids;
	if (v != NULL && message_msgid_parse(a, v, strlen(v), &ids) > 0)
		md->id = ids[0];
	/* RFC 5256 §3 REFERENCES (1): the References ids, or else the first
	 * id of In-Reply-To */
	v = message_header_get(a, &h, "References");
	if (v != NULL)
		md->n_refs = message_msgid_parse(a, v, strlen(v), &md->refs);
	if (md->n_refs == 0) {
		v = message_header_get(a, &h, "In-Reply-To");
		if (v != NULL && message_msgid_parse(a, v, strlen(v), &md->refs) > 0)
			md->n_refs = 1;
	}
	if (md->n_refs > THREAD_REFS_MAX) {
		md->refs += md->n_refs - THREAD_REFS_MAX;
		md->n_refs = THREAD_REFS_MAX;
	}
	return 0;
}

static void set_message(struct forest *f, int c, const struct msgdata *md)
{
	bool reply;
	const char *base = imapsrv_base_subject(f->a, md->subject, &reply);
	char *up = arena_strdup(f->a, base);
	for (char *p = up; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	struct container *x = &f->c[c];
	x->dummy = false;
	x->num = md->num;
	x->seq = md->seq;
	x->date = md->date;
	x->subject = up;
	x->reply = reply;
}

/* RFC 5256 §3 REFERENCES step (1) for one message. */
static int link_message(struct forest *f, const struct msgdata *md)
{
	int c = NONE;
	if (md->id != NULL) {
		c = container_of(f, md->id);
		if (c == NONE)
			return -1;
		if (!f->c[c].dummy)
			c = NONE;  /* a duplicate Message-ID: this message gets a unique one */
	}
	if (c == NONE && (c = new_container(f)) == NONE)
		return -1;
	set_message(f, c, md);
	/* (A) link the references in order, parent before child, keeping
	 * existing parents and refusing loops */
	int prev = NONE;
	for (size_t i = 0; i < md->n_refs; i++) {
		int r = container_of(f, md->refs[i]);
		if (r == NONE)
			return -1;
		if (prev != NONE && f->c[r].parent == NONE && !is_ancestor(f, r, prev))
			add_child(f, prev, r);
		prev = r;
	}
	/* (B) the last reference becomes the parent of this message, replacing
	 * any parent it had; no loops */
	unlink_child(f, c);
	if (prev != NONE && !is_ancestor(f, c, prev))
		add_child(f, prev, c);
	return 0;
}

/* ---- tree walks ---- */

/* Every container reachable from the roots, parents before children. */
static int preorder(const struct forest *f, const int *roots, size_t n_roots, int **order_r,
                    size_t *n_r)
{
	int *order = malloc((f->n ? f->n : 1) * sizeof(*order));
	int *stack = malloc((f->n ? f->n : 1) * sizeof(*stack));
	if (order == NULL || stack == NULL) {
		free(order);
		free(stack);
		return -1;
	}
	size_t n = 0, top = 0;
	for (size_t i = 0; i < n_roots; i++) {
		stack[top++] = roots[i];
		while (top > 0) {
			int x = stack[--top];
			order[n++] = x;
			for (int k = f->c[x].child; k != NONE; k = f->c[k].next)
				stack[top++] = k;
		}
	}
	free(stack);
	*order_r = order;
	*n_r = n;
	return 0;
}

/* Step (3) for the children of x, whose own children are pruned already:
 * dummies without children go, dummies with children give way to them. */
static void prune_children(struct forest *f, int x)
{
	int head = NONE, tail = NONE;
	int k = f->c[x].child;
	while (k != NONE) {
		int next = f->c[k].next;
		if (f->c[k].dummy) {
			/* splice k's children (pruned: no dummies) in its place */
			for (int g = f->c[k].child; g != NONE;) {
				int gn = f->c[g].next;
				f->c[g].parent = x;
				f->c[g].next = NONE;
				if (tail == NONE)
					head = g;
				else
					f->c[tail].next = g;
				tail = g;
				g = gn;
			}
			f->c[k].child = NONE;
		} else {
			f->c[k].next = NONE;
			if (tail == NONE)
				head = k;
			else
				f->c[tail].next = k;
			tail = k;
		}
		k = next;
	}
	f->c[x].child = head;
}

static size_t count_children(const struct forest *f, int x)
{
	size_t n = 0;
	for (int k = f->c[x].child; k != NONE; k = f->c[k].next)
		n++;
	return n;
}

/* The date and sequence number a container sorts by: a dummy's first child's. */
static const struct container *sort_face(const struct forest *f, int x)
{
	while (f->c[x].dummy && f->c[x].child != NONE)
		x = f->c[x].child;
	return &f->c[x];
}

static _Thread_local const struct forest *sorting;

static int by_date(const void *pa, const void *pb)
{
	const struct container *a = sort_face(sorting, *(const int *)pa);
	const struct container *b = sort_face(sorting, *(const int *)pb);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void sort_ints(const struct forest *f, int *v, size_t n)
{
	sorting = f;
	qsort(v, n, sizeof(*v), by_date);
	sorting = NULL;
}

/* Sorts the children of x by date (RFC 5256 §2.2 ties by sequence number). */
static int sort_children(struct forest *f, int x)
{
	size_t n = count_children(f, x);
	if (n < 2)
		return 0;
	int *v = malloc(n * sizeof(*v));
	if (v == NULL)
		return -1;
	size_t i = 0;
	for (int k = f->c[x].child; k != NONE; k = f->c[k].next)
		v[i++] = k;
	sort_ints(f, v, n);
	f->c[x].child = v[0];
	for (i = 0; i + 1 < n; i++)
		f->c[v[i]].next = v[i + 1];
	f->c[v[n - 1]].next = NONE;
	free(v);
	return 0;
}

/* Step (6): every set of siblings by date, the deepest first. */
static int sort_all(struct forest *f, const int *roots, size_t n_roots)
{
	int *order;
	size_t n;
	if (preorder(f, roots, n_roots, &order, &n) != 0)
		return -1;
	int r = 0;
	for (size_t i = n; i-- > 0 && r == 0;)
		r = sort_children(f, order[i]);
	free(order);
	return r;
}

/* ---- writing (RFC 5256 §4) ---- */

/* One thread: "(" members ")", where a chain of only children is a list of
 * numbers and two or more children are each a parenthesised thread. */
static int write_thread(const struct forest *f, int root, struct buf *b)
{
	size_t cap = 16, top = 0;
	int *next = malloc(cap * sizeof(*next));   /* per open group: the sibling after it */
	if (next == NULL)
		return -1;
	buf_append_char(b, '(');
	next[top++] = NONE;
	int x = root;
	bool first = true;
	for (;;) {
		for (;;) {
			if (!f->c[x].dummy) {
				buf_appendf(b, first ? "%u" : " %u", f->c[x].num);
				first = false;
			}
			int k = f->c[x].child;
			if (k == NONE || f->c[k].next != NONE)
				break;
			x = k;
		}
		int k = f->c[x].child;
		if (k != NONE) {
			if (!first)
				buf_append_char(b, ' ');
			if (top == cap) {
				int *nv = realloc(next, cap * 2 * sizeof(*nv));
				if (nv == NULL) {
					free(next);
					return -1;
				}
				next = nv;
				cap *= 2;
			}
			next[top++] = f->c[k].next;
			buf_append_char(b, '(');
			x = k;
			first = true;
			continue;
		}
		/* a leaf: close groups until one has a sibling left */
		for (;;) {
			buf_append_char(b, ')');
			if (next[top - 1] != NONE) {
				x = next[top - 1];
				next[top - 1] = f->c[x].next;
				buf_append_char(b, '(');
				first = true;
				break;
			}
			if (--top == 0) {
				free(next);
				return 0;
			}
		}
	}
}

static int write_threads(struct imapsrv_session *s, const struct forest *f, const int *roots,
                         size_t n_roots)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "* THREAD");
	if (n_roots > 0)
		buf_append_char(&b, ' ');
	int r = 0;
	for (size_t i = 0; i < n_roots && r == 0; i++) {
		if (f->c[roots[i]].removed)
			continue;
		r = write_thread(f, roots[i], &b);
		if (r == 0 && b.len >= 65536) {
			r = imapsrv_send(s, &b);
			buf_reset(&b);
		}
	}
	if (r == 0) {
		buf_append_str(&b, "\r\n");
		r = imapsrv_send(s, &b);
	}
	buf_free(&b);
	return r;
}

/* ---- REFERENCES (RFC 5256 §3) ---- */

/* The base subject of a root (step 5): a dummy's first child's. */
static const char *thread_subject(const struct forest *f, int x)
{
	return sort_face(f, x)->subject;
}

/* Step (5): roots with the same base subject come together. */
static int group_by_subject(struct forest *f, int *roots, size_t n_roots)
{
	table_reset(f, n_roots);
	if (f->slots == NULL)
		return -1;
	/* (B) the subject table: one root per subject, preferring a dummy,
	 * then a message that is not a reply or forward */
	for (size_t i = 0; i < n_roots; i++) {
		int x = roots[i];
		const char *subj = thread_subject(f, x);
		if (subj[0] == '\0')
			continue;
		if (table_rehash(f, true) != 0)
			return -1;
		int *slot = table_slot(f, subj, true);
		if (*slot == 0) {
			*slot = x + 1;
			f->used++;
			continue;
		}
		const struct container *t = &f->c[*slot - 1], *c = &f->c[x];
		if ((c->dummy && !t->dummy) || (!c->dummy && !t->dummy && !c->reply && t->reply))
			*slot = x + 1;
	}
	/* (C) merge each root into the table's root of its subject */
	for (size_t i = 0; i < n_roots; i++) {
		int x = roots[i];
		const char *subj = thread_subject(f, x);
		if (subj[0] == '\0')
			continue;
		int *slot = table_slot(f, subj, true);
		int t = *slot - 1;
		if (t == x)
			continue;
		struct container *tc = &f->c[t], *xc = &f->c[x];
		if (tc->dummy && xc->dummy) {
			/* both dummies: x's children join t's */
			for (int k = xc->child; k != NONE;) {
				int next = f->c[k].next;
				add_child(f, t, k);
				k = next;
			}
			xc->child = NONE;
			xc->removed = true;
		} else if (tc->dummy || (xc->reply && !tc->reply)) {
			/* x becomes a child of t */
			add_child(f, t, x);
			xc->removed = true;
		} else {
			/* a new dummy holds both, in t's place among the roots */
			int d = new_container(f);
			if (d == NONE)
				return -1;
			/* the array may have moved */
			f->c[d].dummy = true;
			for (size_t j = 0; j < n_roots; j++)
				if (roots[j] == t)
					roots[j] = d;
			add_child(f, d, t);
			add_child(f, d, x);
			f->c[x].removed = true;
			f->c[d].subject = f->c[t].subject;
			*table_slot(f, subj, true) = d + 1;
		}
	}
	return 0;
}

static int thread_references(struct imapsrv_session *s, const struct store_uids *res,
                             bool uid_mode, struct forest *f, int **roots_r, size_t *n_roots_r,
                             struct error *e)
{
	table_reset(f, res->n + 16);
	if (f->slots == NULL)
		return error_set(e, ERR_LIMIT, "out of memory");
	struct arena *tmp = arena_new(16384, ARENA_PLAIN);
	int r = 0;
	/* (1) in sequence order, so that a duplicate Message-ID stays with the
	 * lowest sequence number */
	for (size_t i = 0; i < res->n && r == 0; i++) {
		struct msgdata md;
		if (read_message(s, res->v[i], uid_mode, true, tmp, &md, e) == 0) {
			if (link_message(f, &md) != 0)
				r = error_set(e, ERR_LIMIT, "out of memory");
		} else if (e->kind != ERR_NOTFOUND) {
			r = -1;
		}
		arena_reset(tmp);
	}
	arena_free(&tmp);
	if (r != 0)
		return -1;
	/* (2) the root set; (3) the id table is done with */
	size_t n_roots = 0;
	int *roots = malloc((f->n ? f->n : 1) * sizeof(*roots));
	if (roots == NULL)
		return error_set(e, ERR_LIMIT, "out of memory");
	for (size_t i = 0; i < f->n; i++)
		if (f->c[i].parent == NONE)
			roots[n_roots++] = (int)i;
	/* (3) prune dummies, children before parents */
	int *order;
	size_t n_order;
	if (preorder(f, roots, n_roots, &order, &n_order) != 0) {
		free(roots);
		return error_set(e, ERR_LIMIT, "out of memory");
	}
	for (size_t i = n_order; i-- > 0;)
		prune_children(f, order[i]);
	free(order);
	/* at the top, a dummy goes if it has no children, and gives way to its
	 * child if it has only one */
	size_t kept = 0;
	for (size_t i = 0; i < n_roots; i++) {
		int x = roots[i];
		if (f->c[x].dummy) {
			size_t nc = count_children(f, x);
			if (nc == 0)
				continue;
			if (nc == 1) {
				int k = f->c[x].child;
				f->c[k].parent = NONE;
				f->c[x].child = NONE;
				x = k;
			}
		}
		roots[kept++] = x;
	}
	n_roots = kept;
	/* (4) dummies' children by date, then the roots by date */
	for (size_t i = 0; i < n_roots; i++) {
		int x = roots[i];
		if (!f->c[x].dummy)
			continue;
		if (sort_children(f, x) != 0)
			r = -1;
		f->c[x].subject = thread_subject(f, x);
	}
	sort_ints(f, roots, n_roots);
	/* (5) group by subject, (6) sort every set of siblings */
	if (r == 0)
		r = group_by_subject(f, roots, n_roots);
	if (r == 0) {
		kept = 0;
		for (size_t i = 0; i < n_roots; i++)
			if (!f->c[roots[i]].removed)
				roots[kept++] = roots[i];
		n_roots = kept;
		r = sort_all(f, roots, n_roots);
	}
	if (r == 0)
		sort_ints(f, roots, n_roots);
	if (r != 0) {
		free(roots);
		return error_set(e, ERR_LIMIT, "out of memory");
	}
	*roots_r = roots;
	*n_roots_r = n_roots;
	return 0;
}

/* ---- ORDEREDSUBJECT (RFC 5256 §3) ---- */

static _Thread_local const struct forest *subject_sorting;

static int by_subject_date(const void *pa, const void *pb)
{
	const struct container *a = &subject_sorting->c[*(const int *)pa];
	const struct container *b = &subject_sorting->c[*(const int *)pb];
	int r = strcmp(a->subject, b->subject);
	if (r != 0)
		return r;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int thread_orderedsubject(struct imapsrv_session *s, const struct store_uids *res,
                                 bool uid_mode, struct forest *f, int **roots_r,
                                 size_t *n_roots_r, struct error *e)
{
	struct arena *tmp = arena_new(16384, ARENA_PLAIN);
	int r = 0;
	for (size_t i = 0; i < res->n && r == 0; i++) {
		struct msgdata md;
		if (read_message(s, res->v[i], uid_mode, false, tmp, &md, e) == 0) {
			int c = new_container(f);
			if (c == NONE)
				r = error_set(e, ERR_LIMIT, "out of memory");
			else
				set_message(f, c, &md);
		} else if (e->kind != ERR_NOTFOUND) {
			r = -1;
		}
		arena_reset(tmp);
	}
	arena_free(&tmp);
	if (r != 0)
		return -1;
	int *v = malloc((f->n ? f->n : 1) * sizeof(*v));
	int *roots = malloc((f->n ? f->n : 1) * sizeof(*roots));
	if (v == NULL || roots == NULL) {
		free(v);
		free(roots);
		return error_set(e, ERR_LIMIT, "out of memory");
	}
	/* sorted by base subject, then sent date; the first of each subject is
	 * the parent of the others, which are siblings in date order */
	for (size_t i = 0; i < f->n; i++)
		v[i] = (int)i;
	subject_sorting = f;
	qsort(v, f->n, sizeof(*v), by_subject_date);
	subject_sorting = NULL;
	size_t n_roots = 0;
	int tail = NONE;
	for (size_t i = 0; i < f->n; i++) {
		int x = v[i];
		if (n_roots > 0 && strcmp(f->c[roots[n_roots - 1]].subject, f->c[x].subject) == 0) {
			int p = roots[n_roots - 1];
			f->c[x].parent = p;
			if (tail == NONE)
				f->c[p].child = x;
			else
				f->c[tail].next = x;
			tail = x;
		} else {
			roots[n_roots++] = x;
			tail = NONE;
		}
	}
	free(v);
	/* the threads by the sent date of their first message */
	sort_ints(f, roots, n_roots);
	*roots_r = roots;
	*n_roots_r = n_roots;
	return 0;
}

int imapsrv_cmd_thread(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	if (s->sel == NULL) {
		imapsrv_result_set(r, "BAD", NULL, "no mailbox selected");
		return 0;
	}
	bool refs = cmd->thread_alg != NULL && strcmp(cmd->thread_alg, "REFERENCES") == 0;
	if (!refs && (cmd->thread_alg == NULL || strcmp(cmd->thread_alg, "ORDEREDSUBJECT") != 0)) {
		imapsrv_result_set(r, "BAD", NULL, "thread algorithm ORDEREDSUBJECT or REFERENCES");
		return 0;
	}
	if (imapsrv_check_charset(&cmd->search, r) != 0)
		return 0;
	struct store_uids res = {0};
	struct error e;
	if (imapsrv_search_eval(s, cmd->search.key, &res, NULL, &e) != 0) {
		store_uids_free(&res);
		imapsrv_search_failed(&e, r);
		return 0;
	}
	struct forest f = {0};
	f.a = arena_new(65536, ARENA_PLAIN);
	int *roots = NULL;
	size_t n_roots = 0;
	int rc = refs ? thread_references(s, &res, cmd->uid, &f, &roots, &n_roots, &e)
	              : thread_orderedsubject(s, &res, cmd->uid, &f, &roots, &n_roots, &e);
	store_uids_free(&res);
	if (rc == 0) {
		rc = write_threads(s, &f, roots, n_roots);
		imapsrv_result_set(r, "OK", NULL, "%sTHREAD completed", cmd->uid ? "UID " : "");
	} else {
		imapsrv_search_failed(&e, r);
		rc = 0;
	}
	free(roots);
	free(f.c);
	free(f.slots);
	arena_free(&f.a);
	return rc;
}
