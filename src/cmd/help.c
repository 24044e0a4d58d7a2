/*
 * help.c: `tern help [COMMAND...]`, the list of commands or one command's manual.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static void list_commands(void)
{
	printf("usage: tern [-config FILE] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; cmd_table[i] != NULL; i++)
		printf("  %-24s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
	printf("\nglobal flag -config FILE: the static configuration file (default "
	       "config/tern.conf);\ndomains.conf is read from the same directory.\n"
	       "\"tern help COMMAND\" shows the manual of one command.\n");
}

/* The words of argv joined by spaces into out. */
static void join_words(char *out, size_t size, int argc, char **argv)
{
	out[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, argv[i], size - strlen(out) - 1);
	}
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc == 0) {
		list_commands();
		return CMD_OK;
	}
	char want[256];
	join_words(want, sizeof(want), argc, argv);
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		const struct cmd *c = cmd_table[i];
		if (strcmp(c->name, want) != 0)
			continue;
		printf("usage: tern %s%s%s\n\n%s\n", c->name, c->args[0] ? " " : "", c->args,
		       c->help != NULL ? c->help : c->summary);
		return CMD_OK;
	}
	fprintf(stderr, "tern help: unknown command \"%s\"\n", want);
	list_commands();
	return CMD_USAGE;
}

const struct cmd cmd_help = {
	.name = "help",
	.args = "[COMMAND]",
	.summary = "list the commands, or show the manual of one",
	.help = "Without arguments, lists every command with a one-line summary.\n"
	        "With a command name (possibly several words, as in \"tern help config test\"),\n"
	        "shows its usage and manual.",
	.run = run,
};
