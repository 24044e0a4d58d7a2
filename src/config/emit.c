/*
 * emit.c: a configuration struct written back as YAML, from the schema
 * tables. Used when tern changes domains.conf itself (account add/rm): the
 * file is written whole from the new values, so comments in it are not kept
 * (the commands say so). Fields equal to their default are left out, so a
 * written file holds what was chosen and nothing else.
 */
#include "config/config.h"
#include "config/schema.h"

#include <stdlib.h>
#include <string.h>

/* Spaces per nesting level. */
#define INDENT 2

static const void *at(const void *base, size_t offset)
{
	return (const char *)base + offset;
}

static bool is_default_text(const struct schema_field *fl, const char *v)
{
	return fl->def != NULL && strcmp(fl->def, v) == 0;
}

/* Whether the field holds anything worth writing. */
static bool field_set(const struct schema_field *fl, const void *base)
{
	const void *p = at(base, fl->offset);
	switch (fl->type) {
	case SCHEMA_STRING:
	case SCHEMA_ENUM: {
		const char *v = *(const char *const *)p;
		return v != NULL && !is_default_text(fl, v);
	}
	case SCHEMA_INT:
		return fl->def == NULL || *(const int *)p != atoi(fl->def);
	case SCHEMA_BOOL:
		return *(const bool *)p != (fl->def != NULL && strcmp(fl->def, "true") == 0);
	case SCHEMA_LOGLEVEL:
		return !is_default_text(fl, log_level_name(*(const enum log_level *)p));
	case SCHEMA_LIST:
	case SCHEMA_MAP:
		return *(const size_t *)at(base, fl->count_offset) > 0;
	case SCHEMA_STRUCT:
		for (size_t i = 0; i < fl->sub->nfields; i++)
			if (field_set(&fl->sub->fields[i], p))
				return true;
		return false;
	}
	return false;
}

/* A scalar field's value as text (ints and bools in tmp). */
static const char *scalar_text(const struct schema_field *fl, const void *base, char *tmp,
                               size_t size)
{
	const void *p = at(base, fl->offset);
	switch (fl->type) {
	case SCHEMA_INT:
		snprintf(tmp, size, "%d", *(const int *)p);
		return tmp;
	case SCHEMA_BOOL:
		return *(const bool *)p ? "true" : "false";
	case SCHEMA_LOGLEVEL:
		return log_level_name(*(const enum log_level *)p);
	default:
		return *(const char *const *)p;
	}
}

static void emit_fields(FILE *f, int indent, const struct schema *s, const void *base);

static void emit_list(FILE *f, int indent, const struct schema_field *fl, const void *base)
{
	size_t n = *(const size_t *)at(base, fl->count_offset);
	const char *items = *(const char *const *)at(base, fl->offset);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%*s-", indent, "");
		if (fl->sub == NULL) {
			fputc(' ', f);
			schema_print_scalar(f, ((const char *const *)(const void *)items)[i]);
			fputc('\n', f);
		} else {
			fputc('\n', f);
			emit_fields(f, indent + INDENT, fl->sub, items + i * fl->sub->size);
		}
	}
}

static void emit_map(FILE *f, int indent, const struct schema_field *fl, const void *base)
{
	size_t n = *(const size_t *)at(base, fl->count_offset);
	const char *items = *(const char *const *)at(base, fl->offset);
	const struct schema *sub = fl->sub;
	char tmp[32];
	for (size_t i = 0; i < n; i++) {
		const void *item = items + i * sub->size;
		fprintf(f, "%*s", indent, "");
		schema_print_scalar(f, *(const char *const *)at(item, sub->key_offset));
		fputc(':', f);
		if (sub->scalar_value) {
			fputc(' ', f);
			schema_print_scalar(f, scalar_text(&sub->fields[0], item, tmp, sizeof(tmp)));
			fputc('\n', f);
			continue;
		}
		bool any = false;
		for (size_t j = 0; j < sub->nfields && !any; j++)
			any = field_set(&sub->fields[j], item);
		fputs(any ? "\n" : " {}\n", f);
		emit_fields(f, indent + INDENT, sub, item);
	}
}

static void emit_field(FILE *f, int indent, const struct schema_field *fl, const void *base)
{
	char tmp[32];
	fprintf(f, "%*s%s:", indent, "", fl->name);
	switch (fl->type) {
	case SCHEMA_LIST:
		fputc('\n', f);
		emit_list(f, indent + INDENT, fl, base);
		return;
	case SCHEMA_MAP:
		fputc('\n', f);
		emit_map(f, indent + INDENT, fl, base);
		return;
	case SCHEMA_STRUCT:
		fputc('\n', f);
		emit_fields(f, indent + INDENT, fl->sub, at(base, fl->offset));
		return;
	default:
		fputc(' ', f);
		schema_print_scalar(f, scalar_text(fl, base, tmp, sizeof(tmp)));
		fputc('\n', f);
	}
}

static void emit_fields(FILE *f, int indent, const struct schema *s, const void *base)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct schema_field *fl = &s->fields[i];
		if (field_set(fl, base))
			emit_field(f, indent, fl, base);
	}
}

void schema_emit(FILE *f, const struct schema *s, const void *root)
{
	emit_fields(f, 0, s, root);
}
