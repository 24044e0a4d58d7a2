/*
 * main.c: the tern binary. Reads the global flags, picks the subcommand whose
 * (possibly multi-word) name matches the arguments best, and runs it.
 *
 *   tern [-config FILE] COMMAND [FLAGS] [ARGS]
 *
 * Unknown commands and bad flags print usage to stderr and exit 2.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

const struct cmd *const cmd_table[] = {
	&cmd_help,
	&cmd_version,
	&cmd_serve,
	&cmd_stop,
	&cmd_localserve,
	&cmd_quickstart,
	&cmd_config_test,
	&cmd_config_describe_static,
	&cmd_config_describe_dynamic,
	&cmd_config_reload,
	&cmd_dns_lookup,
	&cmd_dmarc_lookup,
	&cmd_dmarc_parsereportmsg,
	&cmd_dmarc_composereports, &cmd_dmarc_outgoing,
	&cmd_tlsrpt_parsereportmsg,
	&cmd_tlsrpt_composereports, &cmd_tlsrpt_results,
	&cmd_spf_check,
	&cmd_dkim_gened25519, &cmd_dkim_genrsa, &cmd_dkim_txt, &cmd_dkim_verify, &cmd_dkim_sign,
	&cmd_arc_verify, &cmd_arc_sign,
	&cmd_account_add,
	&cmd_account_rm,
	&cmd_account_list,
	&cmd_setaccountpassword,
	&cmd_account_checkpassword,
	&cmd_backup,
	&cmd_verifydata,
	&cmd_import,
	&cmd_export,
	&cmd_queue_list, &cmd_queue_hold, &cmd_queue_release, &cmd_queue_drop, &cmd_queue_kick,
	&cmd_queue_dump,
	NULL,
};

/* How many leading words of argv spell name ("config test" = 2), or 0. */
static int name_words(const char *name, int argc, char **argv)
{
	int words = 0;
	const char *p = name;
	while (*p != '\0') {
		if (words >= argc)
			return 0;
		size_t len = strcspn(p, " ");
		if (strlen(argv[words]) != len || strncmp(argv[words], p, len) != 0)
			return 0;
		words++;
		p += len;
		if (*p == ' ')
			p++;
	}
	return words;
}

static const struct cmd *find_command(int argc, char **argv, int *words_r)
{
	const struct cmd *best = NULL;
	int best_words = 0;
	for (size_t i = 0; cmd_table[i] != NULL; i++) {
		int w = name_words(cmd_table[i]->name, argc, argv);
		if (w > best_words) {
			best = cmd_table[i];
			best_words = w;
		}
	}
	*words_r = best_words;
	return best;
}

static int usage(void)
{
	fprintf(stderr, "usage: tern [-config FILE] COMMAND [ARGS]\n"
	                "run \"tern help\" for the list of commands\n");
	return CMD_USAGE;
}

int main(int argc, char **argv)
{
	struct cmd_ctx ctx = {.config_path = "config/tern.conf"};
	argc--, argv++;
	while (argc > 0 && argv[0][0] == '-') {
		const char *f = argv[0] + (argv[0][1] == '-' ? 2 : 1);
		if (strcmp(f, "config") == 0 && argc >= 2) {
			ctx.config_path = argv[1];
			argc -= 2, argv += 2;
		} else if (strncmp(f, "config=", 7) == 0) {
			ctx.config_path = f + 7;
			argc--, argv++;
		} else if (strcmp(f, "h") == 0 || strcmp(f, "help") == 0) {
			argv[0] = "help";
			break;
		} else {
			fprintf(stderr, "tern: unknown flag %s\n", argv[0]);
			return usage();
		}
	}
	if (argc == 0)
		return usage();
	int words;
	const struct cmd *c = find_command(argc, argv, &words);
	if (c == NULL) {
		fprintf(stderr, "tern: unknown command \"%s\"\n", argv[0]);
		return usage();
	}
	return c->run(&ctx, argc - words, argv + words);
}
