/*
 * describe.c: `tern config describe-static|describe-dynamic`, an example
 * file printed from the schema tables.
 *
 * Every field is printed after its doc line and a line with its type, bounds
 * or allowed values, default and "required". Scalars show their default, or
 * the example value of the row; lists show one item, maps one entry. Fields
 * flagged SCHEMA_EXAMPLE_OFF (certificate files, upstream servers: things that
 * must exist on the host) are printed commented out with '#' in the field's
 * column. The output is itself a valid file: config_test.c and
 * tests/test_config.py load it back, so table examples must be consistent
 * (the example account's Domain is the example domain).
 */
#include "config/config.h"
#include "config/schema.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Spaces per nesting level of the printed YAML. */
#define INDENT 2

struct out {
	FILE *f;
	int off_col;    /* column of the '#' that comments out a field; -1: none */
};

/* Indentation of a line, with the '#' of a commented-out field. */
static void prefix(const struct out *o, int indent)
{
	if (o->off_col >= 0)
		fprintf(o->f, "%*s#%*s", o->off_col, "", indent - o->off_col, "");
	else
		fprintf(o->f, "%*s", indent, "");
}

__attribute__((format(printf, 3, 4)))
static void line(const struct out *o, int indent, const char *fmt, ...)
{
	prefix(o, indent);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
	fputc('\n', o->f);
}

/* Whether s can be written as a plain YAML scalar that reads back the same
 * (and not as null): a conservative set of characters, none of YAML's
 * indicators first. */
static bool plain_ok(const char *s)
{
	if (!isalnum((unsigned char)s[0]) && s[0] != '.' && s[0] != '/')
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(" ._/@+-", *p) == NULL)
			return false;
	return s[strlen(s) - 1] != ' ' && strcmp(s, "null") != 0 && strcmp(s, "Null") != 0 &&
	       strcmp(s, "NULL") != 0;
}

void schema_print_scalar(FILE *f, const char *s)
{
	if (plain_ok(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

/* ---- the type line ---- */

static void allowed_text(FILE *f, const struct schema_field *fl)
{
	fputs("one of ", f);
	for (size_t i = 0; fl->allowed[i] != NULL; i++)
		fprintf(f, "%s%s", i == 0 ? "" : ", ", fl->allowed[i]);
}

static void loglevel_text(FILE *f, const struct schema_field *fl)
{
	fputs("one of ", f);
	for (int i = 0; i <= LOG_TRACEDATA; i++)
		fprintf(f, "%s%s", i == 0 ? "" : ", ", log_level_name((enum log_level)i));
}

static void int_text(FILE *f, const struct schema_field *fl)
{
	fprintf(f, "integer %lld..%lld", fl->min, fl->max);
}

static void string_text(FILE *f, const struct schema_field *fl) { fputs("string", f); }
static void bool_text(FILE *f, const struct schema_field *fl) { fputs("true or false", f); }
static void struct_text(FILE *f, const struct schema_field *fl) { fputs(fl->sub->name, f); }

static void list_text(FILE *f, const struct schema_field *fl)
{
	if (fl->sub == NULL)
		fputs("list of strings", f);
	else
		fprintf(f, "list, each item a %s", fl->sub->name);
}

static void map_text(FILE *f, const struct schema_field *fl)
{
	fprintf(f, "map of %s to %s", fl->sub->key_name, fl->sub->name);
}

static void (*const type_texts[])(FILE *, const struct schema_field *) = {
	[SCHEMA_STRING] = string_text,
	[SCHEMA_INT] = int_text,
	[SCHEMA_BOOL] = bool_text,
	[SCHEMA_ENUM] = allowed_text,
	[SCHEMA_LOGLEVEL] = loglevel_text,
	[SCHEMA_LIST] = list_text,
	[SCHEMA_STRUCT] = struct_text,
	[SCHEMA_MAP] = map_text,
};

static void doc_lines(const struct out *o, int indent, const struct schema_field *fl)
{
	line(o, indent, "# %s", fl->doc);
	prefix(o, indent);
	fputs("# (", o->f);
	type_texts[fl->type](o->f, fl);
	if (fl->def != NULL)
		fprintf(o->f, "; default %s", fl->def);
	if (fl->min > 0 && fl->type != SCHEMA_INT)
		fprintf(o->f, "; at least %lld", fl->min);
	if (fl->max > 0 && fl->type != SCHEMA_INT)
		fprintf(o->f, "; at most %lld", fl->max);
	if (fl->flags & SCHEMA_REQUIRED)
		fputs("; required", o->f);
	if (fl->flags & SCHEMA_EXAMPLE_OFF)
		fputs("; example, commented out", o->f);
	fputs(")\n", o->f);
}

/* ---- values ---- */

static void describe_fields(const struct out *o, int indent, const struct schema *s);

/* "key: value" with YAML quoting, or "key:" when value is NULL. */
static void value_line(const struct out *o, int indent, const char *key, const char *value)
{
	prefix(o, indent);
	schema_print_scalar(o->f, key);
	fputc(':', o->f);
	if (value != NULL) {
		fputc(' ', o->f);
		schema_print_scalar(o->f, value);
	}
	fputc('\n', o->f);
}

/* What a scalar field shows: its default, else its example. */
static const char *shown(const struct schema_field *fl)
{
	return fl->def != NULL ? fl->def : fl->example;
}

static void list_value(const struct out *o, int indent, const struct schema_field *fl)
{
	line(o, indent, "%s:", fl->name);
	if (fl->sub == NULL) {
		prefix(o, indent + INDENT);
		fputs("- ", o->f);
		schema_print_scalar(o->f, fl->example);
		fputc('\n', o->f);
		return;
	}
	line(o, indent + INDENT, "-");
	describe_fields(o, indent + 2 * INDENT, fl->sub);
}

static void map_value(const struct out *o, int indent, const struct schema_field *fl)
{
	line(o, indent, "%s:", fl->name);
	if (fl->sub->scalar_value) {
		const struct schema_field *v = &fl->sub->fields[0];
		doc_lines(o, indent + INDENT, v);
		value_line(o, indent + INDENT, fl->example, shown(v));
		return;
	}
	value_line(o, indent + INDENT, fl->example, NULL);
	describe_fields(o, indent + 2 * INDENT, fl->sub);
}

static void describe_field(const struct out *parent, int indent, const struct schema_field *fl)
{
	struct out o = *parent;
	if ((fl->flags & SCHEMA_EXAMPLE_OFF) && o.off_col < 0)
		o.off_col = indent;
	doc_lines(&o, indent, fl);
	if (fl->type == SCHEMA_LIST) {
		list_value(&o, indent, fl);
	} else if (fl->type == SCHEMA_MAP) {
		map_value(&o, indent, fl);
	} else if (fl->type == SCHEMA_STRUCT) {
		line(&o, indent, "%s:", fl->name);
		describe_fields(&o, indent + INDENT, fl->sub);
	} else {
		value_line(&o, indent, fl->name, shown(fl));
	}
}

static void describe_fields(const struct out *o, int indent, const struct schema *s)
{
	for (size_t i = 0; i < s->nfields; i++) {
		if (indent == 0)
			fputc('\n', o->f);
		describe_field(o, indent, &s->fields[i]);
	}
}

void config_describe_static(FILE *f)
{
	struct out o = { f, -1 };
	fputs("# tern.conf: static configuration of tern: paths, listeners, TLS, DNS.\n"
	      "# Changes to listeners need a restart. domains.conf sits beside this file.\n"
	      "# Printed by `tern config describe-static`: each field with its doc, its\n"
	      "# type, and its default or an example value. Relative paths are relative\n"
	      "# to the directory of this file.\n", f);
	describe_fields(&o, 0, &schema_static);
}

void config_describe_dynamic(FILE *f)
{
	struct out o = { f, -1 };
	fputs("# domains.conf: dynamic configuration of tern: domains and accounts.\n"
	      "# Reloaded on SIGHUP or `tern config reload`; an invalid file is refused\n"
	      "# and the running configuration kept.\n"
	      "# Printed by `tern config describe-dynamic`: each field with its doc, its\n"
	      "# type, and its default or an example value.\n", f);
	describe_fields(&o, 0, &schema_dynamic);
}
