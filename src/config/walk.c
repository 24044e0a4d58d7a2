/*
 * walk.c: parses a YAML document into C structs by the schema tables.
 *
 * Two passes over the bytes. The first reads libyaml events only to enforce
 * CONFIG_DEPTH_MAX, CONFIG_NODES_MAX and "one document per file" before
 * libyaml builds a tree; the second loads the document (yaml_parser_load) and
 * walks it by the schema: a mapping's keys are checked first (unknown keys,
 * with a suggestion within edit distance 2; duplicates), then the fields are
 * filled in table order, absent ones from their default.
 *
 * Every error names the file, the 1-based line and column of the node (libyaml
 * marks are 0-based), and the dotted path of the field:
 *   config/domains.conf:17:5: Accounts.alice: unknown key "Destnations" (did you mean "Destinations"?)
 * A missing required field points at the mapping that lacks it. At the top
 * level, and for YAML syntax errors, there is no path and it is left out.
 *
 * A plain scalar "", "~" or "null" counts as absent, so `Key:` with nothing
 * after it means "use the default". Aliases are followed; each visit counts
 * against CONFIG_NODES_MAX. The walk never recurses deeper than the schema.
 */
#include "config/config.h"
#include "config/schema.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Longest key for which a "did you mean" is computed (cost is quadratic). */
#define SUGGEST_KEY_MAX 64
/* Largest edit distance still offered as a suggestion. */
#define SUGGEST_DISTANCE_MAX 2

struct key_entry {
	const char *key;         /* NULL: free slot */
	const void *tag;         /* the field whose keys these are */
	size_t line;             /* 1-based line of the first occurrence */
	const char *where;       /* path of the map holding the first occurrence */
};

/* A set of map keys compared case-insensitively (open addressing). */
struct key_set {
	struct key_entry *slots;
	size_t cap, n;
};

struct walk {
	const struct schema_env *env;
	struct arena *tmp;               /* scratch, freed after the walk */
	yaml_document_t *doc;
	const char *name;
	struct error *err;
	const char *path[CONFIG_DEPTH_MAX];
	size_t depth;
	size_t visits;
	struct key_set across;           /* keys of SCHEMA_UNIQUE_ACROSS maps */
};

/* ---- errors ---- */

static char *path_text(const struct walk *w)
{
	char *p = arena_strdup(w->tmp, "");
	for (size_t i = 0; i < w->depth; i++) {
		const char *sep = (i == 0 || w->path[i][0] == '[') ? "" : ".";
		p = arena_printf(w->tmp, "%s%s%s", p, sep, w->path[i]);
	}
	return p;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct walk *w, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(w->tmp, fmt, ap);
	va_end(ap);
	size_t line = m.line + 1, col = m.column + 1;
	if (w->depth == 0)
		return error_set(w->err, ERR_INVALID, "%s:%zu:%zu: %s", w->name, line, col, msg);
	return error_set(w->err, ERR_INVALID, "%s:%zu:%zu: %s: %s", w->name, line, col,
	                 path_text(w), msg);
}

static int push(struct walk *w, yaml_mark_t m, const char *segment)
{
	if (w->depth == CONFIG_DEPTH_MAX)
		return fail(w, m, "nested deeper than %d levels", CONFIG_DEPTH_MAX);
	w->path[w->depth++] = segment;
	return 0;
}

static void pop(struct walk *w)
{
	w->depth--;
}

static int count_visit(struct walk *w, yaml_mark_t m)
{
	if (++w->visits > CONFIG_NODES_MAX)
		return fail(w, m, "more than %d values (aliases included)", CONFIG_NODES_MAX);
	return 0;
}

/* ---- nodes ---- */

static const char *const node_kinds[] = {
	[YAML_NO_NODE] = "nothing", [YAML_SCALAR_NODE] = "a scalar",
	[YAML_SEQUENCE_NODE] = "a list", [YAML_MAPPING_NODE] = "a mapping",
};

static const char *node_kind(const yaml_node_t *n)
{
	return (size_t)n->type < sizeof(node_kinds) / sizeof(node_kinds[0])
		? node_kinds[n->type] : "an unknown node";
}

static const char *text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(text(n), nulls[i]) == 0)
			return true;
	return false;
}

static yaml_node_t *node(const struct walk *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

/* A scalar with no NUL byte inside (C strings could not hold it). */
static int want_scalar(struct walk *w, const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(w, n->start_mark, "expected a scalar, got %s", node_kind(n));
	if (strlen(text(n)) != n->data.scalar.length)
		return fail(w, n->start_mark, "value contains a NUL byte");
	return 0;
}

static yaml_node_t *lookup(const struct walk *w, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(w, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(text(k), key) == 0)
			return node(w, p->value);
	}
	return NULL;
}

/* ---- key sets ---- */

static uint64_t fold_hash(const void *tag, const char *s)
{
	uint64_t h = 1469598103934665603u ^ (uintptr_t)tag;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211u;
	return h;
}

static struct key_entry *key_slot(struct key_set *ks, const void *tag, const char *key)
{
	size_t i = fold_hash(tag, key) & (ks->cap - 1);
	while (ks->slots[i].key != NULL &&
	       (ks->slots[i].tag != tag || strcasecmp(ks->slots[i].key, key) != 0))
		i = (i + 1) & (ks->cap - 1);
	return &ks->slots[i];
}

static void key_grow(struct key_set *ks, struct arena *a)
{
	struct key_set old = *ks;
	ks->cap = old.cap == 0 ? 16 : old.cap * 2;
	ks->slots = arena_alloc(a, ks->cap * sizeof(*ks->slots));
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key != NULL)
			*key_slot(ks, old.slots[i].tag, old.slots[i].key) = old.slots[i];
}

/* Adds key; returns the earlier entry if an equal key (ignoring case) with
 * the same tag is there already, else NULL. */
static const struct key_entry *key_add(struct key_set *ks, struct arena *a,
                                       const struct key_entry *e)
{
	if (2 * (ks->n + 1) > ks->cap)
		key_grow(ks, a);
	struct key_entry *slot = key_slot(ks, e->tag, e->key);
	if (slot->key != NULL)
		return slot;
	*slot = *e;
	ks->n++;
	return NULL;
}

/* ---- scalars ---- */

typedef const char *scalar_fn(struct walk *w, const struct schema_field *f,
                              const char *s, void *dst);

static const char *scalar_string(struct walk *w, const struct schema_field *f,
                                 const char *s, void *dst)
{
	const char *v = arena_strdup(w->env->arena, s);
	if (f->check != NULL) {
		const char *problem = f->check(w->env, v, &v);
		if (problem != NULL)
			return problem;
	}
	*(const char **)dst = v;
	return NULL;
}

static const char *scalar_int(struct walk *w, const struct schema_field *f,
                              const char *s, void *dst)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (s[0] == '\0' || isspace((unsigned char)s[0]) || *end != '\0')
		return arena_printf(w->tmp, "%s is not an integer", schema_quote(w->tmp, s));
	if (errno == ERANGE || v < f->min || v > f->max)
		return arena_printf(w->tmp, "%s is out of range %lld..%lld", s, f->min, f->max);
	*(int *)dst = (int)v;
	return NULL;
}

/* YAML 1.2 core schema booleans, lower case only: yes/no/on/off are strings. */
static const char *scalar_bool(struct walk *w, const struct schema_field *f,
                               const char *s, void *dst)
{
	if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
		return arena_printf(w->tmp, "%s is not a bool (true or false)",
		                    schema_quote(w->tmp, s));
	*(bool *)dst = s[0] == 't';
	return NULL;
}

static const char *allowed_list(struct walk *w, const char *const *allowed)
{
	char *list = arena_strdup(w->tmp, "");
	for (size_t i = 0; allowed[i] != NULL; i++)
		list = arena_printf(w->tmp, "%s%s%s", list, i == 0 ? "" : ", ", allowed[i]);
	return list;
}

static const char *scalar_enum(struct walk *w, const struct schema_field *f,
                               const char *s, void *dst)
{
	for (size_t i = 0; f->allowed[i] != NULL; i++) {
		if (strcmp(s, f->allowed[i]) == 0) {
			*(const char **)dst = f->allowed[i];
			return NULL;
		}
	}
	return arena_printf(w->tmp, "%s is not one of %s", schema_quote(w->tmp, s),
	                    allowed_list(w, f->allowed));
}

static const char *scalar_loglevel(struct walk *w, const struct schema_field *f,
                                   const char *s, void *dst)
{
	enum log_level level;
	if (log_level_parse(s, &level) == 0) {
		*(enum log_level *)dst = level;
		return NULL;
	}
	const char *names[LOG_TRACEDATA + 2];
	for (int i = 0; i <= LOG_TRACEDATA; i++)
		names[i] = log_level_name((enum log_level)i);
	names[LOG_TRACEDATA + 1] = NULL;
	return arena_printf(w->tmp, "%s is not one of %s", schema_quote(w->tmp, s),
	                    allowed_list(w, names));
}

static scalar_fn *const scalar_parsers[] = {
	[SCHEMA_STRING] = scalar_string,
	[SCHEMA_INT] = scalar_int,
	[SCHEMA_BOOL] = scalar_bool,
	[SCHEMA_ENUM] = scalar_enum,
	[SCHEMA_LOGLEVEL] = scalar_loglevel,
};

static bool is_scalar_type(enum schema_type t)
{
	return (size_t)t < sizeof(scalar_parsers) / sizeof(scalar_parsers[0]) &&
		scalar_parsers[t] != NULL;
}

static int set_scalar(struct walk *w, const struct schema_field *f, const char *s,
                      yaml_mark_t m, void *obj)
{
	const char *problem = scalar_parsers[f->type](w, f, s, (char *)obj + f->offset);
	return problem != NULL ? fail(w, m, "%s", problem) : 0;
}

/* ---- structs, lists, maps ---- */

static int walk_struct(struct walk *w, const struct schema *s, const yaml_node_t *map,
                       yaml_mark_t where, void *obj);
static int walk_field(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                      yaml_mark_t where, void *obj);

static int walk_scalar(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                       void *obj)
{
	if (want_scalar(w, n) < 0)
		return -1;
	return set_scalar(w, f, text(n), n->start_mark, obj);
}

static int count_bounds(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                        size_t count)
{
	if (f->min > 0 && count < (size_t)f->min)
		return fail(w, n->start_mark, "needs at least %lld item%s", f->min,
		            f->min == 1 ? "" : "s");
	if (f->max > 0 && count > (size_t)f->max)
		return fail(w, n->start_mark, "more than %lld items", f->max);
	return 0;
}

static int list_string(struct walk *w, const struct schema_field *f, const yaml_node_t *item,
                       const char **dst)
{
	if (want_scalar(w, item) < 0)
		return -1;
	if (is_null(item))
		return fail(w, item->start_mark, "empty list item");
	const char *v = arena_strdup(w->env->arena, text(item));
	const char *problem = f->check != NULL ? f->check(w->env, v, &v) : NULL;
	if (problem != NULL)
		return fail(w, item->start_mark, "%s", problem);
	*dst = v;
	return 0;
}

static int list_item(struct walk *w, const struct schema_field *f, const yaml_node_t *item,
                     void *elem)
{
	if (count_visit(w, item->start_mark) < 0)
		return -1;
	if (f->sub == NULL)
		return list_string(w, f, item, elem);
	return walk_struct(w, f->sub, is_null(item) ? NULL : item, item->start_mark, elem);
}

static int walk_list(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                     void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(w, n->start_mark, "expected a list, got %s", node_kind(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count_bounds(w, f, n, count) < 0)
		return -1;
	size_t size = f->sub != NULL ? f->sub->size : sizeof(const char *);
	char *items = arena_alloc(w->env->arena, count * size);
	*(void **)((char *)obj + f->offset) = items;
	size_t *count_r = (size_t *)((char *)obj + f->count_offset);
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *item = node(w, n->data.sequence.items.start[i]);
		*count_r = i + 1;
		if (push(w, item->start_mark, arena_printf(w->tmp, "[%zu]", i)) < 0)
			return -1;
		int r = list_item(w, f, item, items + i * size);
		pop(w);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Checks a map key and records it; *key_r is the key to store. */
static int map_key(struct walk *w, const struct schema_field *f, const yaml_node_t *k,
                   struct key_set *seen, const char **key_r)
{
	if (want_scalar(w, k) < 0)
		return -1;
	if (is_null(k))
		return fail(w, k->start_mark, "empty key");
	const char *key = arena_strdup(w->env->arena, text(k));
	const char *problem = f->check != NULL ? f->check(w->env, key, &key) : NULL;
	if (problem != NULL)
		return fail(w, k->start_mark, "%s", problem);
	struct key_entry e = { key, f, k->start_mark.line + 1, NULL };
	const struct key_entry *first = key_add(seen, w->tmp, &e);
	if (first != NULL)
		return fail(w, k->start_mark, "duplicate key %s (first at line %zu)",
		            schema_quote(w->tmp, key), first->line);
	if (f->flags & SCHEMA_UNIQUE_ACROSS) {
		e.where = path_text(w);
		first = key_add(&w->across, w->tmp, &e);
		if (first != NULL)
			return fail(w, k->start_mark, "%s is already used at %s (line %zu)",
			            schema_quote(w->tmp, key), first->where, first->line);
	}
	*key_r = key;
	return 0;
}

static int map_value(struct walk *w, const struct schema *sub, const yaml_node_t *k,
                     const yaml_node_t *v, void *elem)
{
	if (count_visit(w, v->start_mark) < 0)
		return -1;
	if (sub->scalar_value)
		return walk_field(w, &sub->fields[0], v, k->start_mark, elem);
	return walk_struct(w, sub, is_null(v) ? NULL : v, k->start_mark, elem);
}

static int map_entry(struct walk *w, const struct schema_field *f, const yaml_node_pair_t *p,
                     struct key_set *seen, char *elem)
{
	const yaml_node_t *k = node(w, p->key), *v = node(w, p->value);
	const char *key = NULL;
	if (map_key(w, f, k, seen, &key) < 0)
		return -1;
	*(const char **)(elem + f->sub->key_offset) = key;
	if (push(w, k->start_mark, text(k)) < 0)
		return -1;
	int r = map_value(w, f->sub, k, v, elem);
	pop(w);
	return r;
}

static int walk_map(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                    void *obj)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail(w, n->start_mark, "expected a mapping, got %s", node_kind(n));
	const yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
	size_t count = (size_t)(n->data.mapping.pairs.top - pairs);
	if (count_bounds(w, f, n, count) < 0)
		return -1;
	char *items = arena_alloc(w->env->arena, count * f->sub->size);
	*(void **)((char *)obj + f->offset) = items;
	size_t *count_r = (size_t *)((char *)obj + f->count_offset);
	struct key_set seen = { 0 };
	for (size_t i = 0; i < count; i++) {
		*count_r = i + 1;
		if (map_entry(w, f, &pairs[i], &seen, items + i * f->sub->size) < 0)
			return -1;
	}
	return 0;
}

static int walk_nested(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                       void *obj)
{
	return walk_struct(w, f->sub, n, n->start_mark, (char *)obj + f->offset);
}

typedef int walk_fn(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                    void *obj);

static walk_fn *const walkers[] = {
	[SCHEMA_STRING] = walk_scalar,
	[SCHEMA_INT] = walk_scalar,
	[SCHEMA_BOOL] = walk_scalar,
	[SCHEMA_ENUM] = walk_scalar,
	[SCHEMA_LOGLEVEL] = walk_scalar,
	[SCHEMA_LIST] = walk_list,
	[SCHEMA_STRUCT] = walk_nested,
	[SCHEMA_MAP] = walk_map,
};

/* A field that is absent (or null): required, default, or empty. */
static int walk_absent(struct walk *w, const struct schema_field *f, yaml_mark_t where,
                       void *obj)
{
	if (f->flags & SCHEMA_REQUIRED)
		return fail(w, where, "required field missing");
	if (f->type == SCHEMA_STRUCT)
		return walk_struct(w, f->sub, NULL, where, (char *)obj + f->offset);
	if (f->def != NULL && is_scalar_type(f->type))
		return set_scalar(w, f, f->def, where, obj);
	return 0;
}

static int walk_field(struct walk *w, const struct schema_field *f, const yaml_node_t *n,
                      yaml_mark_t where, void *obj)
{
	if (n != NULL && is_null(n)) {
		where = n->start_mark;
		n = NULL;
	}
	if (n == NULL)
		return walk_absent(w, f, where, obj);
	if (count_visit(w, n->start_mark) < 0)
		return -1;
	return walkers[f->type](w, f, n, obj);
}

/* ---- mapping keys of a struct ---- */

/* Levenshtein distance ignoring case; both strings at most SUGGEST_KEY_MAX. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SUGGEST_KEY_MAX + 1];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
			size_t best = diag + (same ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *suggestion(const struct schema *s, const char *key)
{
	const char *best = NULL;
	size_t best_d = SUGGEST_DISTANCE_MAX + 1;
	if (strlen(key) > SUGGEST_KEY_MAX)
		return NULL;
	for (size_t i = 0; i < s->nfields; i++) {
		size_t d = distance(key, s->fields[i].name);
		if (d < best_d) {
			best_d = d;
			best = s->fields[i].name;
		}
	}
	return best;
}

static const struct schema_field *field_named(const struct schema *s, const char *key)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, key) == 0)
			return &s->fields[i];
	return NULL;
}

static int unknown_key(struct walk *w, const struct schema *s, const yaml_node_t *k)
{
	const char *quoted = schema_quote(w->tmp, text(k));
	const char *hint = suggestion(s, text(k));
	if (hint != NULL)
		return fail(w, k->start_mark, "unknown key %s (did you mean \"%s\"?)", quoted, hint);
	return fail(w, k->start_mark, "unknown key %s", quoted);
}

/* Every key is a known field, given once. Stops at the first unknown key, so
 * the duplicate search sees at most nfields keys before it. */
static int check_keys(struct walk *w, const struct schema *s, const yaml_node_t *map)
{
	const yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	size_t count = (size_t)(map->data.mapping.pairs.top - pairs);
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *k = node(w, pairs[i].key);
		if (want_scalar(w, k) < 0)
			return -1;
		if (field_named(s, text(k)) == NULL)
			return unknown_key(w, s, k);
		for (size_t j = 0; j < i; j++) {
			const yaml_node_t *earlier = node(w, pairs[j].key);
			if (strcmp(text(earlier), text(k)) == 0)
				return fail(w, k->start_mark, "duplicate key \"%s\" (first at line %zu)",
				            text(k), earlier->start_mark.line + 1);
		}
	}
	return 0;
}

static int walk_struct(struct walk *w, const struct schema *s, const yaml_node_t *map,
                       yaml_mark_t where, void *obj)
{
	if (map != NULL && map->type != YAML_MAPPING_NODE)
		return fail(w, map->start_mark, "expected a mapping, got %s", node_kind(map));
	if (map != NULL) {
		where = map->start_mark;
		if (check_keys(w, s, map) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nfields; i++) {
		const struct schema_field *f = &s->fields[i];
		const yaml_node_t *v = map != NULL ? lookup(w, map, f->name) : NULL;
		if (push(w, v != NULL ? v->start_mark : where, f->name) < 0)
			return -1;
		int r = walk_field(w, f, v, where, obj);
		pop(w);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* ---- libyaml ---- */

/* Line and column of a byte offset, for reader errors that carry no mark. */
static yaml_mark_t mark_at(const char *data, size_t len, size_t offset)
{
	yaml_mark_t m = { 0 };
	for (size_t i = 0; i < offset && i < len; i++) {
		if (data[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

static int syntax_error(struct walk *w, const yaml_parser_t *p, const char *data, size_t len)
{
	yaml_mark_t m = p->error == YAML_READER_ERROR
		? mark_at(data, len, p->problem_offset) : p->problem_mark;
	const char *problem = p->problem != NULL ? p->problem : "cannot parse YAML";
	if (p->context != NULL)
		return fail(w, m, "%s (%s)", problem, p->context);
	return fail(w, m, "%s", problem);
}

/* Adjusts depth, nodes and documents for one event; -1 past a limit. */
static int prescan_event(struct walk *w, const yaml_event_t *ev, size_t *depth,
                         size_t *nodes, size_t *docs)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail(w, ev->start_mark, "more than one YAML document");
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (++*depth > CONFIG_DEPTH_MAX)
			return fail(w, ev->start_mark, "nested deeper than %d levels", CONFIG_DEPTH_MAX);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		--*depth;
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
		break;
	default:
		return 0;
	}
	if (++*nodes > CONFIG_NODES_MAX)
		return fail(w, ev->start_mark, "more than %d values", CONFIG_NODES_MAX);
	return 0;
}

/* Enforces the limits on the event stream before any tree is built. */
static int prescan(struct walk *w, const char *data, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	size_t depth = 0, nodes = 0, docs = 0;
	int r = 0;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	for (bool done = false; !done && r == 0;) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = syntax_error(w, &p, data, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = prescan_event(w, &ev, &depth, &nodes, &docs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return r;
}

static int walk_document(struct walk *w, const struct schema *s)
{
	yaml_node_t *root = yaml_document_get_root_node(w->doc);
	yaml_mark_t top = { 0 };
	if (root != NULL && is_null(root))
		root = NULL;
	if (root != NULL && root->type != YAML_MAPPING_NODE)
		return fail(w, root->start_mark, "expected a mapping at the top, got %s",
		            node_kind(root));
	return walk_struct(w, s, root, top, w->env->root);
}

int schema_parse(const struct schema *s, const char *name, const char *data, size_t len,
                 const struct schema_env *env, struct error *err)
{
	struct walk w = { .env = env, .name = name, .err = err };
	w.tmp = arena_new(16384, ARENA_PLAIN);
	int r = prescan(&w, data, len);
	if (r == 0) {
		yaml_parser_t p;
		yaml_document_t doc;
		yaml_parser_initialize(&p);
		yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
		if (!yaml_parser_load(&p, &doc)) {
			r = syntax_error(&w, &p, data, len);
		} else {
			w.doc = &doc;
			r = walk_document(&w, s);
			yaml_document_delete(&doc);
		}
		yaml_parser_delete(&p);
	}
	arena_free(&w.tmp);
	return r;
}
