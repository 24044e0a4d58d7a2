/*
 * session.c: one IMAP session (RFC 9051 §3 states, §2.2 command loop): the
 * greeting, reading commands (src/imap), the command table (which command
 * is allowed in which state, and which untagged updates may follow it), the
 * capability list, and the session-level commands CAPABILITY, NOOP, CHECK,
 * LOGOUT, STARTTLS, ENABLE (RFC 5161), ID (RFC 2971) and UNAUTHENTICATE
 * (RFC 8437). Logins are in auth.c, IDLE in idle.c, COMPRESS in
 * compress.c, SELECT/EXAMINE/CLOSE/UNSELECT and the updates of the selected
 * mailbox in selected.c; the mailbox and message commands in their files.
 *
 * A session is IMAP4rev1 (RFC 3501) until the client sends ENABLE
 * IMAP4rev2 (RFC 9051 §6.3.1); then rev2 rules apply (no \Recent, UTF-8
 * names and strings).
 *
 * Invariants: the tagged line is written here alone, after the handler and
 * the updates it allows (imapsrv_sync); output is flushed before each read.
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/ratelimit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Results and output.
 */

void imapsrv_result_set(struct imapsrv_result *r, const char *status, const char *code,
                        const char *fmt, ...)
{
	r->status = status;
	r->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

int imapsrv_send(struct imapsrv_session *s, const struct buf *b)
{
	struct error e;
	return conn_write(s->c, b->data, b->len, &e);
}

/* Writes an untagged or tagged status line and flushes. */
int imapsrv_send_status(struct imapsrv_session *s, const char *tag, const char *status,
                        const char *code, const char *text)
{
	struct error e;
	buf_reset(&s->wbuf);
	if (imap_write_status(&s->wbuf, tag, status, code, text) != 0)
		return -1;
	if (imapsrv_send(s, &s->wbuf) != 0)
		return -1;
	return conn_flush(s->c, &e);
}

/*
 * Capabilities: one table; what is listed depends on the state and TLS.
 */

enum cap_when {
	CAP_ALWAYS,
	CAP_PREAUTH,          /* not authenticated */
	CAP_STARTTLS,         /* not authenticated, no TLS yet, TLS configured */
	CAP_LOGINDISABLED,    /* not authenticated, no TLS, plaintext logins refused */
	CAP_SASL,             /* not authenticated: the AUTH= list (from src/sasl) */
	CAP_AUTHENTICATED,
	CAP_APPENDLIMIT,      /* "APPENDLIMIT=" and the session's limit */
};

static const struct {
	const char *name;
	enum cap_when when;
} capabilities[] = {
	{"IMAP4rev2", CAP_ALWAYS},
	{"IMAP4rev1", CAP_ALWAYS},
	{"STARTTLS", CAP_STARTTLS},
	{"LOGINDISABLED", CAP_LOGINDISABLED},
	{"AUTH=", CAP_SASL},
	{"SASL-IR", CAP_PREAUTH},              /* RFC 4959 */
	{"ENABLE", CAP_ALWAYS},                /* RFC 5161 */
	{"ID", CAP_ALWAYS},                    /* RFC 2971 */
	{"LITERAL+", CAP_ALWAYS},              /* RFC 7888 */
	{"IDLE", CAP_ALWAYS},                  /* RFC 2177 */
	{"UNSELECT", CAP_ALWAYS},              /* RFC 3691 */
	{"UNAUTHENTICATE", CAP_ALWAYS},        /* RFC 8437 */
	{"CONDSTORE", CAP_ALWAYS},             /* RFC 7162 */
	{"QRESYNC", CAP_ALWAYS},               /* RFC 7162 */
	{"UTF8=ACCEPT", CAP_ALWAYS},           /* RFC 6855 */
	{"COMPRESS=DEFLATE", CAP_AUTHENTICATED}, /* RFC 4978 */
	/* mailbox.c */
	{"NAMESPACE", CAP_ALWAYS},             /* RFC 2342 */
	{"LIST-EXTENDED", CAP_ALWAYS},         /* RFC 5258 */
	{"CHILDREN", CAP_ALWAYS},              /* RFC 3348 */
	{"SPECIAL-USE", CAP_ALWAYS},           /* RFC 6154 */
	{"CREATE-SPECIAL-USE", CAP_ALWAYS},    /* RFC 6154 §3 */
	{"LIST-STATUS", CAP_ALWAYS},           /* RFC 5819 */
	{"STATUS=SIZE", CAP_ALWAYS},           /* RFC 8438 */
	/* message.c, append.c */
	{"UIDPLUS", CAP_ALWAYS},               /* RFC 4315 */
	{"MOVE", CAP_ALWAYS},                  /* RFC 6851 */
	{"MULTIAPPEND", CAP_ALWAYS},           /* RFC 3502 */
	{"REPLACE", CAP_ALWAYS},               /* RFC 8508 */
	{"APPENDLIMIT=", CAP_APPENDLIMIT},     /* RFC 7889 */
	/* fetch.c */
	{"BINARY", CAP_ALWAYS},                /* RFC 3516 */
	{"SAVEDATE", CAP_ALWAYS},              /* RFC 8514 */
	{"PREVIEW", CAP_ALWAYS},               /* RFC 8970 */
	/* search.c, sort.c, thread.c */
	{"ESEARCH", CAP_ALWAYS},               /* RFC 4731 */
	{"SEARCHRES", CAP_ALWAYS},             /* RFC 5182 */
	{"WITHIN", CAP_ALWAYS},                /* RFC 5032 */
	{"SORT", CAP_ALWAYS},                  /* RFC 5256 */
	{"SORT=DISPLAY", CAP_ALWAYS},          /* RFC 5957 */
	{"THREAD=ORDEREDSUBJECT", CAP_ALWAYS}, /* RFC 5256 */
	{"THREAD=REFERENCES", CAP_ALWAYS},     /* RFC 5256 */
	/* quota.c: limits are read-only, so no QUOTASET (RFC 9208 §4.1.3) */
	{"QUOTA", CAP_ALWAYS},                 /* RFC 9208 */
	{"QUOTA=RES-STORAGE", CAP_ALWAYS},
	{"QUOTA=RES-MESSAGE", CAP_ALWAYS},
};

static bool tls_needed(const struct imapsrv_session *s)
{
	return !conn_tls_active(s->c) && !s->set->plaintext_login;
}

static bool cap_listed(const struct imapsrv_session *s, enum cap_when when)
{
	bool preauth = s->state == IMAPSRV_NOT_AUTHENTICATED;
	switch (when) {
	case CAP_ALWAYS:
		return true;
	case CAP_PREAUTH:
	case CAP_SASL:
		return preauth;
	case CAP_STARTTLS:  /* not below COMPRESS (RFC 4978 §4: TLS goes first) */
		return preauth && !conn_tls_active(s->c) && s->set->tls != NULL && !s->compressed;
	case CAP_LOGINDISABLED:
		return preauth && tls_needed(s);
	case CAP_AUTHENTICATED:
		return !preauth && !s->compressed;
	case CAP_APPENDLIMIT:
		return true;
	}
	return false;
}

/* The AUTH= entries: src/sasl's list for the TLS state (plaintext
 * mechanisms only with TLS, -PLUS only with a channel binding; localserve
 * allows them without TLS). */
static void sasl_caps(const struct imapsrv_session *s, struct buf *out)
{
	bool tls = conn_tls_active(s->c) || s->set->plaintext_login;
	const char *list = sasl_mechanisms_list(tls, s->have_cb);
	while (*list != '\0') {
		size_t n = strcspn(list, " ");
		buf_appendf(out, " AUTH=%.*s", (int)n, list);
		list += n;
		while (*list == ' ')
			list++;
	}
}

void imapsrv_capabilities(const struct imapsrv_session *s, struct buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++) {
		if (!cap_listed(s, capabilities[i].when))
			continue;
		if (capabilities[i].when == CAP_SASL) {
			sasl_caps(s, out);
			continue;
		}
		if (capabilities[i].when == CAP_APPENDLIMIT) {
			buf_appendf(out, " APPENDLIMIT=%llu", (unsigned long long)imapsrv_append_limit(s));
			continue;
		}
		buf_appendf(out, " %s", capabilities[i].name);
	}
	if (out->len > start)  /* drop the leading space */
		memmove(out->data + start, out->data + start + 1, out->len - start);
	if (out->len > start)
		buf_truncate(out, out->len - 1);
}

/*
 * Flags.
 */

void imapsrv_write_flags(struct buf *out, unsigned flags, const char *keywords, bool recent)
{
	static const struct {
		unsigned bit;
		const char *name;
	} sys[] = {
		{STORE_FLAG_SEEN, "\\Seen"}, {STORE_FLAG_ANSWERED, "\\Answered"},
		{STORE_FLAG_FLAGGED, "\\Flagged"}, {STORE_FLAG_DELETED, "\\Deleted"},
		{STORE_FLAG_DRAFT, "\\Draft"},
	};
	bool first = true;
	buf_append_char(out, '(');
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (!(flags & sys[i].bit))
			continue;
		buf_appendf(out, "%s%s", first ? "" : " ", sys[i].name);
		first = false;
	}
	if (recent) {
		buf_appendf(out, "%s\\Recent", first ? "" : " ");
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0')
		buf_appendf(out, "%s%s", first ? "" : " ", keywords);
	buf_append_char(out, ')');
}

bool imapsrv_is_recent(const struct imapsrv_session *s, uint32_t uid)
{
	if (s->out.rev2 || s->sel == NULL)
		return false;
	/* the ranges ascend (imapsrv_recent_add) */
	size_t lo = 0, hi = s->sel->n_recent;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->sel->recent[mid].last < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->sel->n_recent && s->sel->recent[lo].first <= uid;
}

/*
 * Session-level commands.
 */

static int cmd_capability(struct imapsrv_session *s, const struct imap_command *cmd,
                          struct imapsrv_result *r)
{
	buf_reset(&s->wbuf);
	buf_append_str(&s->wbuf, "* CAPABILITY ");
	imapsrv_capabilities(s, &s->wbuf);
	buf_append_str(&s->wbuf, "\r\n");
	imapsrv_result_set(r, "OK", NULL, "CAPABILITY completed");
	return imapsrv_send(s, &s->wbuf);
}

static int cmd_noop(struct imapsrv_session *s, const struct imap_command *cmd,
                    struct imapsrv_result *r)
{
	imapsrv_result_set(r, "OK", NULL, "%s completed", imap_cmd_name(cmd->cmd));
	return 0;
}

static int cmd_logout(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	/* RFC 9051 §6.1.3: BYE first, then the tagged OK. */
	struct error e;
	s->state = IMAPSRV_LOGOUT;
	imapsrv_result_set(r, "OK", NULL, "LOGOUT completed");
	return conn_printf(s->c, &e, "* BYE %s logging out\r\n", s->set->hostname);
}

static void tls_started(struct imapsrv_session *s)
{
	struct error e;
	s->have_cb = conn_tls_exporter(s->c, s->cb, &e) == 0;
}

/* RFC 9051 §6.2.1. */
static int cmd_starttls(struct imapsrv_session *s, const struct imap_command *cmd,
                        struct imapsrv_result *r)
{
	if (s->set->tls == NULL || conn_tls_active(s->c) || s->compressed) {
		/* RFC 4978 §4: TLS cannot start below an active compression
		 * layer (after COMPRESS and UNAUTHENTICATE) */
		imapsrv_result_set(r, "BAD", NULL, conn_tls_active(s->c) ? "TLS is already active"
		                   : s->compressed ? "STARTTLS is not possible under COMPRESS"
		                   : "STARTTLS is not offered here");
		return 0;
	}
	if (imapsrv_send_status(s, cmd->tag, "OK", NULL, "Begin TLS negotiation now") != 0)
		return -1;
	/* RFC 9051 §6.2.1: input sent after STARTTLS before the handshake is
	 * discarded (command injection); conn refuses the upgrade then and the
	 * session ends, as the client is not following the protocol. */
	struct error e;
	if (conn_starttls_server(s->c, s->set->tls, &e) != 0) {
		struct log_line *l = log_begin(LOG_INFO, "imapserver", "STARTTLS failed");
		log_str(l, "remote", s->remote_ip);
		log_error_value(l, &e);
		log_end(l);
		return -1;
	}
	tls_started(s);
	r->status = NULL;  /* answered already */
	return 0;
}

/* RFC 5161 §3.1, RFC 9051 §6.3.1. */
static int cmd_enable(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	buf_reset(&s->wbuf);
	buf_append_str(&s->wbuf, "* ENABLED");
	for (size_t i = 0; i < cmd->n_words; i++) {
		const char *w = cmd->words[i];
		bool *flag = NULL;
		if (strcmp(w, "IMAP4REV2") == 0)
			flag = &s->out.rev2;
		else if (strcmp(w, "CONDSTORE") == 0)
			flag = &s->out.condstore;
		else if (strcmp(w, "QRESYNC") == 0)
			flag = &s->out.qresync;
		else if (strcmp(w, "UTF8=ACCEPT") == 0)
			flag = &s->utf8_accept;
		if (flag == NULL || *flag)
			continue;  /* RFC 5161 §3.1: unknown ones are ignored */
		*flag = true;
		buf_appendf(&s->wbuf, " %s", strcmp(w, "IMAP4REV2") == 0 ? "IMAP4rev2" : w);
	}
	if (s->out.qresync)  /* RFC 7162 §3.2.3: QRESYNC implies CONDSTORE */
		s->out.condstore = true;
	if (s->out.rev2 || s->utf8_accept)  /* RFC 9051 §6.3.1, RFC 6855 §3 */
		s->out.imap_flags |= IMAP_UTF8;
	buf_append_str(&s->wbuf, "\r\n");
	imapsrv_result_set(r, "OK", NULL, "ENABLE completed");
	return imapsrv_send(s, &s->wbuf);
}

/* RFC 2971 §3.1: the client's list is only logged; ours names tern. */
static int cmd_id(struct imapsrv_session *s, const struct imap_command *cmd,
                  struct imapsrv_result *r)
{
	if (!cmd->id_nil && cmd->n_words > 0) {
		struct log_line *l = log_begin(LOG_DEBUG, "imapserver", "client id");
		log_str(l, "remote", s->remote_ip);
		for (size_t i = 0; i < cmd->n_words && i < 30; i++)
			if (cmd->values[i] != NULL && strlen(cmd->words[i]) < 32)
				log_str(l, arena_printf(s->cmd_arena, "id.%s", cmd->words[i]),
				        cmd->values[i]);
		log_end(l);
	}
	buf_reset(&s->wbuf);
	buf_append_str(&s->wbuf, "* ID (\"name\" \"tern\" \"version\" ");
	const char *v = s->set->version != NULL ? s->set->version : "";
	imap_write_string(&s->wbuf, v, strlen(v), 0);
	buf_append_str(&s->wbuf, ")\r\n");
	imapsrv_result_set(r, "OK", NULL, "ID completed");
	return imapsrv_send(s, &s->wbuf);
}

static void arena_for_state(struct imapsrv_session *s)
{
	arena_free(&s->cmd_arena);
	s->cmd_arena = arena_new(IMAPSRV_ARENA_BLOCK, s->state == IMAPSRV_NOT_AUTHENTICATED
	                                              ? ARENA_SECRET : ARENA_PLAIN);
	/* the same for the connection's input buffer (LOGIN, AUTHENTICATE) */
	conn_set_secret_input(s->c, s->state == IMAPSRV_NOT_AUTHENTICATED);
}

/*
 * Memory of waiting sessions: most sessions wait far longer than they work
 * (IDLE, a client that keeps its connection), so what a command grew is
 * given back while the session waits.
 */

void imapsrv_release_memory(struct imapsrv_session *s, bool waiting)
{
	if (waiting || buf_allocated(&s->wbuf) > IMAPSRV_KEEP_BYTES)
		buf_free(&s->wbuf);
	if (waiting || buf_allocated(&s->rbuf) > IMAPSRV_KEEP_BYTES)
		buf_free_secret(&s->rbuf);
	if (waiting)
		conn_release_buffers(s->c);
}

static void logout_account(struct imapsrv_session *s)
{
	imapsrv_unselect(s);
	store_sub_free(&s->sub);
	store_close(&s->acct);
	s->account[0] = '\0';
}

/* RFC 8437 §3: back to not authenticated. What the login set up goes, the
 * ENABLEd extensions too, so that the next login starts as a fresh session
 * would; TLS and COMPRESS belong to the connection and stay. */
static int cmd_unauthenticate(struct imapsrv_session *s, const struct imap_command *cmd,
                              struct imapsrv_result *r)
{
	logout_account(s);
	s->state = IMAPSRV_NOT_AUTHENTICATED;
	s->out = (struct imapsrv_out){.c = s->c};
	s->utf8_accept = false;
	imapsrv_result_set(r, "OK", NULL, "UNAUTHENTICATE completed");
	return 0;
}

int imapsrv_login_done(struct imapsrv_session *s, const char *account, struct imapsrv_result *r)
{
	struct error e;
	if (store_open(s->set->data_dir, account, &s->acct, &e) != 0 ||
	    store_sub_new(s->acct, &s->sub, &e) != 0) {
		struct log_line *l = log_begin(LOG_ERROR, "imapserver", "cannot open account");
		log_str(l, "account", account);
		log_error_value(l, &e);
		log_end(l);
		store_sub_free(&s->sub);
		store_close(&s->acct);
		imapsrv_result_set(r, "NO", "UNAVAILABLE", "Account unavailable, try again later");
		return -1;
	}
	/* RFC 9208: GETQUOTA reports the configured limits from the start,
	 * as SMTP delivery enforces them (smtpserver/backend.c) */
	const struct config_account *acc = s->set->cfg != NULL ?
		config_find_account(s->set->cfg, account) : NULL;
	if (acc != NULL)
		store_set_quota(s->acct, config_account_quota_bytes(acc),
		                (uint64_t)acc->quota_messages);
	snprintf(s->account, sizeof(s->account), "%s", account);
	s->state = IMAPSRV_AUTHENTICATED;
	return 0;
}

/*
 * The command table (RFC 9051 §6: which command in which state).
 */

enum {
	ST_NOAUTH = 1 << IMAPSRV_NOT_AUTHENTICATED,
	ST_AUTH = 1 << IMAPSRV_AUTHENTICATED,
	ST_SEL = 1 << IMAPSRV_SELECTED,
	ST_ANY = ST_NOAUTH | ST_AUTH | ST_SEL,
	ST_LOGGED_IN = ST_AUTH | ST_SEL,
};

/* Which updates of the selected mailbox may follow the command (RFC 9051
 * §7.4.1: no EXPUNGE during FETCH, STORE and SEARCH; the UID forms may). */
enum upd {
	UPD_NONE,        /* no updates */
	UPD_FULL,        /* EXISTS, flag changes, expunges */
	UPD_NO_EXPUNGE,  /* as FULL but expunges wait, unless it is the UID form */
};

static const struct command {
	enum imap_cmd cmd;
	unsigned states;
	imapsrv_cmd_fn *fn;
	enum upd upd;
} commands[] = {
	{IMAP_CMD_CAPABILITY, ST_ANY, cmd_capability, UPD_NONE},
	{IMAP_CMD_NOOP, ST_ANY, cmd_noop, UPD_FULL},
	{IMAP_CMD_LOGOUT, ST_ANY, cmd_logout, UPD_NONE},
	{IMAP_CMD_ID, ST_ANY, cmd_id, UPD_NONE},
	{IMAP_CMD_STARTTLS, ST_NOAUTH, cmd_starttls, UPD_NONE},
	{IMAP_CMD_LOGIN, ST_NOAUTH, imapsrv_cmd_login, UPD_NONE},
	{IMAP_CMD_AUTHENTICATE, ST_NOAUTH, imapsrv_cmd_authenticate, UPD_NONE},
	{IMAP_CMD_ENABLE, ST_AUTH, cmd_enable, UPD_NONE},
	{IMAP_CMD_UNAUTHENTICATE, ST_LOGGED_IN, cmd_unauthenticate, UPD_NONE},
	{IMAP_CMD_COMPRESS, ST_LOGGED_IN, imapsrv_cmd_compress, UPD_NONE},
	{IMAP_CMD_SELECT, ST_LOGGED_IN, imapsrv_cmd_select, UPD_NONE},
	{IMAP_CMD_EXAMINE, ST_LOGGED_IN, imapsrv_cmd_select, UPD_NONE},
	{IMAP_CMD_CREATE, ST_LOGGED_IN, imapsrv_cmd_create, UPD_FULL},
	{IMAP_CMD_DELETE, ST_LOGGED_IN, imapsrv_cmd_delete, UPD_FULL},
	{IMAP_CMD_RENAME, ST_LOGGED_IN, imapsrv_cmd_rename, UPD_FULL},
	{IMAP_CMD_SUBSCRIBE, ST_LOGGED_IN, imapsrv_cmd_subscribe, UPD_FULL},
	{IMAP_CMD_UNSUBSCRIBE, ST_LOGGED_IN, imapsrv_cmd_unsubscribe, UPD_FULL},
	{IMAP_CMD_LIST, ST_LOGGED_IN, imapsrv_cmd_list, UPD_FULL},
	{IMAP_CMD_LSUB, ST_LOGGED_IN, imapsrv_cmd_lsub, UPD_FULL},
	{IMAP_CMD_NAMESPACE, ST_LOGGED_IN, imapsrv_cmd_namespace, UPD_FULL},
	{IMAP_CMD_STATUS, ST_LOGGED_IN, imapsrv_cmd_status, UPD_FULL},
	{IMAP_CMD_APPEND, ST_LOGGED_IN, imapsrv_cmd_append, UPD_FULL},
	{IMAP_CMD_IDLE, ST_LOGGED_IN, imapsrv_cmd_idle, UPD_NONE},
	{IMAP_CMD_GETQUOTA, ST_LOGGED_IN, imapsrv_cmd_getquota, UPD_FULL},
	{IMAP_CMD_GETQUOTAROOT, ST_LOGGED_IN, imapsrv_cmd_getquotaroot, UPD_FULL},
	{IMAP_CMD_SETQUOTA, ST_LOGGED_IN, imapsrv_cmd_setquota, UPD_FULL},
	{IMAP_CMD_CHECK, ST_SEL, cmd_noop, UPD_FULL},
	{IMAP_CMD_CLOSE, ST_SEL, imapsrv_cmd_close, UPD_NONE},
	{IMAP_CMD_UNSELECT, ST_SEL, imapsrv_cmd_close, UPD_NONE},
	{IMAP_CMD_EXPUNGE, ST_SEL, imapsrv_cmd_expunge, UPD_FULL},
	{IMAP_CMD_SEARCH, ST_SEL, imapsrv_cmd_search, UPD_NO_EXPUNGE},
	{IMAP_CMD_FETCH, ST_SEL, imapsrv_cmd_fetch, UPD_NO_EXPUNGE},
	{IMAP_CMD_STORE, ST_SEL, imapsrv_cmd_store, UPD_NO_EXPUNGE},
	{IMAP_CMD_COPY, ST_SEL, imapsrv_cmd_copy, UPD_FULL},
	{IMAP_CMD_MOVE, ST_SEL, imapsrv_cmd_move, UPD_FULL},
	{IMAP_CMD_SORT, ST_SEL, imapsrv_cmd_sort, UPD_NO_EXPUNGE},
	{IMAP_CMD_THREAD, ST_SEL, imapsrv_cmd_thread, UPD_NO_EXPUNGE},
	{IMAP_CMD_REPLACE, ST_SEL, imapsrv_cmd_replace, UPD_FULL},
};

static const struct command *command_find(enum imap_cmd cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd)
			return &commands[i];
	return NULL;
}

/* The BAD text for a command in the wrong state (RFC 9051 §6: a command
 * given in a state where it is not valid is a protocol error). */
static const char *wrong_state(const struct imapsrv_session *s, const struct command *c)
{
	switch (s->state) {
	case IMAPSRV_NOT_AUTHENTICATED:
		return "not authenticated: log in first";
	case IMAPSRV_AUTHENTICATED:
		if (c->states & ST_SEL)
			return "no mailbox selected: SELECT or EXAMINE one first";
		return "already authenticated";
	case IMAPSRV_SELECTED:
		if (c->cmd == IMAP_CMD_ENABLE)  /* RFC 5161 §3.1 */
			return "ENABLE is only valid before a mailbox is selected";
		return "already authenticated";
	case IMAPSRV_LOGOUT:
		break;
	}
	return "not valid in this state";
}

static int run_command(struct imapsrv_session *s, const struct imap_command *cmd)
{
	struct imapsrv_result r = {0};
	const struct command *c = command_find(cmd->cmd);
	if (c == NULL) {
		s->bad_count++;
		return imapsrv_send_status(s, cmd->tag, "BAD", NULL, "unknown command");
	}
	if (!(c->states & (1u << s->state))) {
		s->bad_count++;
		return imapsrv_send_status(s, cmd->tag, "BAD", NULL, wrong_state(s, c));
	}
	buf_reset(&s->wbuf);
	if (c->fn(s, cmd, &r) != 0)
		return -1;
	if (r.status == NULL)  /* the handler answered itself (STARTTLS) */
		return 0;
	if (strcmp(r.status, "BAD") == 0)
		s->bad_count++;
	if (c->upd != UPD_NONE && s->state == IMAPSRV_SELECTED) {
		bool expunge = c->upd == UPD_FULL || cmd->uid;
		if (imapsrv_sync(s, expunge, cmd->uid) != 0)
			return -1;
	}
	return imapsrv_send_status(s, cmd->tag, r.status, r.code, r.text);
}

/*
 * Reading commands.
 */

/* RFC 9051 §7.5: the continuation request for a synchronizing literal. */
static int send_ready(void *ctx, uint64_t size, struct error *e)
{
	struct imapsrv_session *s = ctx;
	(void)size;
	if (imapsrv_append_literal_check(s, s->rbuf.data, s->rbuf.len, e) != 0)
		return 1;  /* NO [TRYCREATE] instead of "+" */
	if (conn_write(s->c, "+ Ready\r\n", 9, e) != 0)
		return -1;
	return conn_flush(s->c, e);
}

/* Tighter limits before authentication (no APPEND, short commands). */
/* APPEND octets held at once by all sessions of the process. */
static struct imap_append_budget append_budget = { .max = IMAPSRV_APPEND_BUDGET };

static void state_limits(const struct imapsrv_session *s, struct imap_limits *l)
{
	*l = s->set->limits;
	l->append_budget = &append_budget;
	if (s->state != IMAPSRV_NOT_AUTHENTICATED)
		return;
	l->command_max = IMAP_PREAUTH_COMMAND_MAX;   /* the largest ID (RFC 2971 §3.3) fits */
	l->args_max = 64;
	l->append_max = 0;
	l->append_total_max = 0;
	l->skip_max = 16384;
}

static unsigned state_idle_ms(const struct imapsrv_session *s)
{
	if (s->state == IMAPSRV_NOT_AUTHENTICATED)
		return s->set->preauth_idle_ms != 0 ? s->set->preauth_idle_ms : IMAPSRV_IDLE_PREAUTH_MS;
	return s->set->idle_ms != 0 ? s->set->idle_ms : IMAPSRV_IDLE_AUTH_MS;
}

/* A read failed fatally: say why with BYE where the peer can still hear. */
static void read_failed(struct imapsrv_session *s, const struct error *e)
{
	const char *text = NULL;
	switch (e->kind) {
	case ERR_SHUTDOWN:
		text = "server shutting down";
		break;
	case ERR_TIMEOUT:  /* RFC 9051 §5.4 autologout */
		text = "autologout: idle for too long";
		break;
	case ERR_LIMIT:
	case ERR_INVALID:
		text = e->msg;
		break;
	default:
		break;
	}
	if (text != NULL)
		imapsrv_send_status(s, NULL, "BYE", NULL, text);
	struct log_line *l = log_begin(LOG_DEBUG, "imapserver", "session ends");
	log_str(l, "remote", s->remote_ip);
	log_error_value(l, e);
	log_end(l);
}

/* Reads and runs one command. Returns 0 to go on, -1 to end. */
static int one_command(struct imapsrv_session *s)
{
	struct imap_limits lim;
	state_limits(s, &lim);
	conn_set_idle_timeout(s->c, state_idle_ms(s));
	arena_reset(s->cmd_arena);
	struct imap_command cmd;
	struct imap_refusal ref;
	struct error e;
	enum imapsrv_state before = s->state;
	int rc = imap_read_command(s->c, &lim, s->out.imap_flags | IMAP_LITERAL_PLUS, send_ready, s,
	                           &s->rbuf, s->cmd_arena, &cmd, &ref, &e);
	if (rc != 0 && ref.fatal) {
		read_failed(s, &e);
		return -1;
	}
	if (rc != 0) {
		s->bad_count += !ref.no;
		if (imapsrv_send_status(s, ref.tag, ref.no ? "NO" : "BAD", ref.code, e.msg) != 0)
			return -1;
	} else {
		int ran = run_command(s, &cmd);
		imap_append_budget_release(lim.append_budget, cmd.append_held);
		if (ran != 0)
			return -1;
	}
	if (before == IMAPSRV_NOT_AUTHENTICATED) /* the line may have held a password */
		explicit_bzero(s->rbuf.data, s->rbuf.len);
	if (s->state != before && (before == IMAPSRV_NOT_AUTHENTICATED ||
	                           s->state == IMAPSRV_NOT_AUTHENTICATED))
		arena_for_state(s);
	imapsrv_release_memory(s, false);
	if (s->bad_count > IMAPSRV_BAD_MAX) {
		imapsrv_send_status(s, NULL, "BYE", NULL, "too many bad commands");
		return -1;
	}
	return s->state == IMAPSRV_LOGOUT ? -1 : 0;
}

static int greet(struct imapsrv_session *s)
{
	struct error e;
	if (s->set->implicit_tls) {  /* RFC 8314 §3.3: TLS first on port 993 */
		if (s->set->tls == NULL || conn_tls_accept(s->c, s->set->tls, &e) != 0)
			return -1;
		tls_started(s);
	}
	if (s->set->preauth_account != NULL) {  /* RFC 9051 §7.1.4 */
		struct imapsrv_result r;
		if (imapsrv_login_done(s, s->set->preauth_account, &r) != 0) {
			imapsrv_send_status(s, NULL, "BYE", r.code, r.text);
			return -1;
		}
		arena_for_state(s);
	}
	/* RFC 9051 §7.1.1, §7.1.4: the greeting may carry the capabilities. */
	buf_reset(&s->wbuf);
	buf_appendf(&s->wbuf, "* %s [CAPABILITY ", s->state == IMAPSRV_AUTHENTICATED ? "PREAUTH"
	                                                                               : "OK");
	imapsrv_capabilities(s, &s->wbuf);
	buf_append_str(&s->wbuf, s->state == IMAPSRV_AUTHENTICATED ? "] tern ready, logged in\r\n"
	                                                           : "] tern ready\r\n");
	if (imapsrv_send(s, &s->wbuf) != 0)
		return -1;
	return conn_flush(s->c, &e);
}

struct imapsrv_session *imapsrv_session_new(struct conn *c, const struct sockaddr *peer,
                                            int cancel_fd, const struct imapsrv_settings *set)
{
	struct imapsrv_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	*s = (struct imapsrv_session){
		.c = c, .set = set, .state = IMAPSRV_NOT_AUTHENTICATED, .cancel_fd = cancel_fd,
		.out = {.c = c},
	};
	s->remote_ip = conn_remote_ip(c);
	if (peer != NULL)
		ratelimit_addr_key(peer, s->ip_key);
	else
		snprintf(s->ip_key, sizeof(s->ip_key), "unknown");
	buf_init(&s->wbuf, BUF_UNBOUNDED);
	buf_init(&s->rbuf, BUF_UNBOUNDED);
	arena_for_state(s);
	conn_set_cancel_fd(c, cancel_fd);
	conn_set_idle_timeout(c, state_idle_ms(s));
	return s;
}

int imapsrv_session_continue(struct imapsrv_session *s, enum imapsrv_wake why,
                             struct imapsrv_park *park)
{
	if (why == IMAPSRV_WAKE_START && greet(s) != 0)
		return 0;
	if (why != IMAPSRV_WAKE_START && s->idle.tag != NULL && imapsrv_idle_wake(s, why) != 0)
		return 0;
	for (;;) {
		if (s->idle.tag == NULL) {
			if (one_command(s) != 0)
				return 0;
		} else if (park == NULL) {
			if (imapsrv_idle_wait(s) != 0)
				return 0;
		} else if (imapsrv_idle_park(s, park)) {
			return 1;
		} else if (imapsrv_idle_wake(s, IMAPSRV_WAKE_READY) != 0) {
			return 0;  /* the client's input was buffered already */
		}
	}
}

void imapsrv_session_free(struct imapsrv_session **sp)
{
	struct imapsrv_session *s = *sp;
	if (s == NULL)
		return;
	struct error e;
	conn_flush(s->c, &e);
	imapsrv_idle_clear(s);
	logout_account(s);
	arena_free(&s->cmd_arena);
	buf_free(&s->wbuf);
	buf_free_secret(&s->rbuf);
	free(s);
	*sp = NULL;
}

void imapsrv_session_run(struct conn *c, const struct sockaddr *peer, int cancel_fd,
                         const struct imapsrv_settings *set)
{
	struct imapsrv_session *s = imapsrv_session_new(c, peer, cancel_fd, set);
	imapsrv_session_continue(s, IMAPSRV_WAKE_START, NULL);
	imapsrv_session_free(&s);
}
