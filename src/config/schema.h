/*
 * schema.h: the schema tables behind tern.conf and domains.conf (internal to
 * src/config/; never include it from elsewhere).
 *
 * A schema describes one C struct: its fields, each one row of a table with
 * the YAML key, type, offset in the struct, default (as text, parsed like a
 * value from the file), bounds, allowed values, nested schema, a check for the
 * value and a one-line doc. walk.c parses a YAML document by these rows,
 * describe.c prints an example file from them, and nothing else knows the key
 * names.
 *
 * Types and where they store:
 *   SCHEMA_STRING    const char *            (check may rewrite: lower case, absolute path)
 *   SCHEMA_INT       int                     (min..max)
 *   SCHEMA_BOOL      bool                    (YAML true or false only)
 *   SCHEMA_ENUM      const char *            (one of allowed[], stored as that entry)
 *   SCHEMA_LOGLEVEL  enum log_level          (names of log_level_parse)
 *   SCHEMA_LIST      T * + size_t count      (strings if sub is NULL, else structs of sub)
 *   SCHEMA_STRUCT    the struct of sub, inline at offset
 *   SCHEMA_MAP       T * + size_t count      (structs of sub; the key goes to sub->key_offset;
 *                                             with sub->scalar_value the value is sub->fields[0])
 *
 * Invariants: walk.c visits the fields of a struct in table order, so a check
 * may rely on fields listed earlier being filled (domains.conf lists Domains
 * before Accounts). Lists and maps bump their count before an item's value is
 * walked, so a check sees every item started before it.
 */
#ifndef TERN_CONFIG_SCHEMA_H
#define TERN_CONFIG_SCHEMA_H

#include "core/arena.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What a check sees besides the value. */
struct schema_env {
	struct arena *arena;   /* the snapshot's arena: values go here */
	const char *dir;       /* absolute directory of the file, for relative paths */
	void *root;            /* the struct the whole file fills */
};

/* Checks a scalar value (a string, a list item or a map key). Returns NULL
 * and sets *out_r to the value to store (in, or a rewritten copy in
 * env->arena), or returns a problem for the message, e.g. `"x" is not a valid
 * domain name`. */
typedef const char *schema_check_fn(const struct schema_env *env, const char *in,
                                    const char **out_r);

enum schema_type {
	SCHEMA_STRING,
	SCHEMA_INT,
	SCHEMA_BOOL,
	SCHEMA_ENUM,
	SCHEMA_LOGLEVEL,
	SCHEMA_LIST,
	SCHEMA_STRUCT,
	SCHEMA_MAP,
};

enum schema_flags {
	SCHEMA_REQUIRED = 1 << 0,      /* absent is an error */
	SCHEMA_UNIQUE_ACROSS = 1 << 1, /* map keys unique across every instance of the field */
	SCHEMA_EXAMPLE_OFF = 1 << 2,   /* describe shows the field commented out */
};

struct schema;

struct schema_field {
	const char *name;              /* YAML key, CamelCase */
	enum schema_type type;
	size_t offset;                 /* of the value in the struct */
	size_t count_offset;           /* lists and maps: of the size_t count */
	const char *def;               /* default as text; NULL: none */
	unsigned flags;                /* enum schema_flags */
	long long min, max;            /* ints: bounds; lists and maps: max items (0: no limit) */
	const char *const *allowed;    /* SCHEMA_ENUM: NULL-terminated */
	const struct schema *sub;      /* STRUCT, MAP, LIST of structs */
	schema_check_fn *check;        /* STRING value, LIST string items, MAP keys */
	const char *doc;               /* one line for describe */
	const char *example;           /* describe: value, list item or map key */
};

struct schema {
	const char *name;              /* what one element is, for docs: "listener" */
	const char *key_name;          /* maps: what the key is, for docs: "listener name" */
	size_t size;                   /* sizeof one element (lists and maps) */
	size_t key_offset;             /* maps: the const char * that receives the key */
	bool scalar_value;             /* maps: the value is a scalar parsed by fields[0] */
	const struct schema_field *fields;
	size_t nfields;
};

#define SCHEMA_FIELDS(a) (a), (sizeof(a) / sizeof((a)[0]))

/* The two files (schema_static.c, schema_dynamic.c). */
extern const struct schema schema_static;
extern const struct schema schema_dynamic;
/* A route of domains.conf (Domains.D.Routes, Accounts.A.Routes): as in
 * tern.conf, its Transport checked against tern.conf by config_load. */
extern const struct schema schema_route_dynamic;

/* Fills and checks what the table cannot express for tern.conf: a listener
 * without Hostname gets the global one; Submission(s) and IMAP(S) need TLS; no two
 * services share an IP and port. Returns 0, or -1 with err set ("NAME:
 * Listeners.X.Y: problem"). */
int schema_static_finish(void *root, const char *name, struct error *err);

/* Parses len bytes of YAML named `name` (for messages) into root by schema s.
 * Returns 0, or -1 with err set to "NAME:LINE:COL: Field.Path: problem" (or
 * "NAME: problem" when there is no position). Values are allocated in
 * env->arena. Limits: CONFIG_DEPTH_MAX, CONFIG_NODES_MAX (config.h). */
int schema_parse(const struct schema *s, const char *name, const char *data, size_t len,
                 const struct schema_env *env, struct error *err);

/* Prints s as a YAML scalar that reads back as the same string: plain when
 * that is safe, else double-quoted with " and \ escaped (describe.c). */
void schema_print_scalar(FILE *f, const char *s);

/* Prints the fields of root (a struct of schema s) as YAML that schema_parse
 * reads back to the same values; fields equal to their default are left out
 * (emit.c). */
void schema_emit(FILE *f, const struct schema *s, const void *root);

/* ---- checks shared by both files (check.c) ---- */

/* A domain name of LDH labels (ASCII, A-labels for IDNs); stored lower case,
 * without a trailing dot. */
schema_check_fn schema_check_domain;
/* An IPv4 or IPv6 address (inet_pton). */
schema_check_fn schema_check_ip;
/* "IP" or "IP@PORT", port 1..65535. */
schema_check_fn schema_check_upstream;
/* A path; relative ones are made absolute against env->dir. */
schema_check_fn schema_check_path;
/* A path as schema_check_path that must name an existing file. */
schema_check_fn schema_check_file;
/* A log package name, 1..LOG_PKG_NAME_MAX of [a-z0-9_-]. */
schema_check_fn schema_check_pkg;

/* Whether s is a valid domain name (as schema_check_domain, any case). */
bool schema_domain_valid(const char *s);

/* Joins dir and path (absolute paths stay) and removes "." and ".."
 * segments lexically. Result in a. */
char *schema_path_join(struct arena *a, const char *dir, const char *path);

/* The absolute directory of file (relative to the working directory).
 * Returns NULL if the working directory is unknown. */
char *schema_dir_of(struct arena *a, const char *file);

/* s in double quotes, with ", \ and non-printable bytes escaped and long
 * values cut with "...", for messages. Result in a. */
char *schema_quote(struct arena *a, const char *s);

#endif
