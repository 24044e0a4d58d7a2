/*
 * flags.c: command-line flags in the mox style: -name VALUE, -name=VALUE, and
 * the same with two dashes; bool flags take no value. "--" ends the flags.
 * The global -config FILE is accepted by every command, before or after its name.
 */
#include "cmd/cmd.h"
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_hint[] = {
	[FLAG_BOOL] = "", [FLAG_STRING] = " VALUE", [FLAG_INT] = " N",
};

int cmd_usage(const struct cmd *c, const struct flag *flags, size_t nflags)
{
	fprintf(stderr, "usage: tern %s%s%s\n", c->name, c->args[0] ? " " : "", c->args);
	for (size_t i = 0; i < nflags; i++)
		fprintf(stderr, "  -%s%s\n\t%s\n", flags[i].name, type_hint[flags[i].type],
		        flags[i].help);
	fprintf(stderr, "  -config FILE\n\tconfiguration file (default config/tern.conf)\n");
	return CMD_USAGE;
}

int cmd_fail(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tern %s: ", c->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CMD_FAIL;
}

static int parse_bool(const char *v, bool *b_r)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*b_r = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*b_r = false;
	else
		return -1;
	return 0;
}

static int parse_int(const char *v, long *n_r)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return -1;
	*n_r = n;
	return 0;
}

/* Stores value into flag f. Returns 0 or -1 when the value does not fit the type. */
static int set_flag(const struct flag *f, const char *value)
{
	switch (f->type) {
	case FLAG_BOOL:
		return parse_bool(value, f->target);
	case FLAG_STRING:
		*(const char **)f->target = value;
		return 0;
	case FLAG_INT:
		return parse_int(value, f->target);
	}
	return -1;
}

static const struct flag *find_flag(const struct flag *flags, size_t n, const char *name,
                                    size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	return NULL;
}

int cmd_parse_flags(const struct cmd *c, struct cmd_ctx *ctx, const struct flag *flags,
                    size_t nflags, int *argc_r, char ***argv_r)
{
	int argc = *argc_r;
	char **argv = *argv_r;
	const struct flag config_flag = {"config", FLAG_STRING, &ctx->config_path, ""};

	while (argc > 0 && argv[0][0] == '-' && argv[0][1] != '\0') {
		const char *name = argv[0] + 1;
		if (strcmp(name, "-") == 0) {
			argc--, argv++;
			break;
		}
		if (name[0] == '-')
			name++;
		const char *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		const struct flag *f = find_flag(flags, nflags, name, len);
		if (f == NULL)
			f = find_flag(&config_flag, 1, name, len);
		if (f == NULL) {
			fprintf(stderr, "tern %s: unknown flag %s\n", c->name, argv[0]);
			return cmd_usage(c, flags, nflags);
		}
		const char *value = eq != NULL ? eq + 1 : NULL;
		if (value == NULL && f->type == FLAG_BOOL) {
			value = "true";
		} else if (value == NULL) {
			if (argc < 2) {
				fprintf(stderr, "tern %s: flag -%s needs a value\n", c->name, f->name);
				return cmd_usage(c, flags, nflags);
			}
			argc--, argv++;
			value = argv[0];
		}
		if (set_flag(f, value) != 0) {
			fprintf(stderr, "tern %s: bad value %s for flag -%s\n", c->name, value, f->name);
			return cmd_usage(c, flags, nflags);
		}
		argc--, argv++;
	}
	*argc_r = argc;
	*argv_r = argv;
	return 0;
}

int cmd_no_args(const struct cmd *c, struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(c, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0)
		return cmd_usage(c, NULL, 0);
	return 0;
}

int cmd_read_file(const struct cmd *c, const char *path, struct buf *out, size_t max)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return cmd_fail(c, "%s: %s", path, strerror(errno));
	int r = CMD_OK;
	char tmp[65536];
	size_t n;
	while (r == CMD_OK && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (buf_append(out, tmp, n) < 0)
			r = cmd_fail(c, "%s: larger than %zu bytes", path, max);
	if (r == CMD_OK && ferror(f))
		r = cmd_fail(c, "%s: read error", path);
	if (f != stdin)
		fclose(f);
	return r;
}
