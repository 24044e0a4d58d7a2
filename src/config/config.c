/*
 * config.c: loading files into snapshots, reference counts, and the
 * process-wide current snapshot. See config.h.
 *
 * A snapshot and everything in it live in one arena, the struct config
 * included; the last config_release frees the arena. The current pointer is
 * swapped under a mutex, and a reference is taken under the same mutex, so a
 * thread never takes a reference on a snapshot that is being freed.
 * config_set_current also hands the snapshot's log levels to the logger, under
 * the mutex, so the logger always has the levels of the current snapshot.
 */
#include "config/config.h"
#include "config/schema.h"
#include "core/arena.h"
#include "core/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Arena blocks of a snapshot: a typical configuration fits in one or two. */
#define SNAPSHOT_BLOCK 16384
/* Bytes read per read(2) call when the size is not known in advance. */
#define READ_CHUNK 65536

struct config_private {
	struct arena *arena;
	atomic_uint refs;
	const char *dir;        /* absolute directory of static_path */
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;

/* ---- snapshots ---- */

static int snapshot_new(const char *static_path, struct config **cfg_r, struct error *err)
{
	struct arena *a = arena_new(SNAPSHOT_BLOCK, ARENA_PLAIN);
	struct config *cfg = arena_alloc(a, sizeof(*cfg));
	cfg->priv_ = arena_alloc(a, sizeof(*cfg->priv_));
	cfg->priv_->arena = a;
	atomic_init(&cfg->priv_->refs, 1);
	cfg->static_path = arena_strdup(a, static_path);
	const char *slash = strrchr(static_path, '/');
	cfg->dynamic_path = slash == NULL ? "domains.conf"
		: arena_printf(a, "%.*sdomains.conf", (int)(slash - static_path + 1), static_path);
	cfg->priv_->dir = schema_dir_of(a, static_path);
	if (cfg->priv_->dir == NULL) {
		arena_free(&a);
		return error_errno(err, errno, "%s: cannot find the working directory", static_path);
	}
	*cfg_r = cfg;
	return 0;
}

struct config *config_ref(struct config *cfg)
{
	atomic_fetch_add(&cfg->priv_->refs, 1);
	return cfg;
}

void config_release(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	*cfgp = NULL;
	if (cfg == NULL || atomic_fetch_sub(&cfg->priv_->refs, 1) != 1)
		return;
	struct arena *a = cfg->priv_->arena;
	arena_free(&a);
}

/* ---- parsing ---- */

static int parse_static(struct config *cfg, const char *name, const char *data, size_t len,
                        struct error *err)
{
	struct schema_env env = { cfg->priv_->arena, cfg->priv_->dir, &cfg->st };
	if (schema_parse(&schema_static, name, data, len, &env, err) < 0)
		return -1;
	return schema_static_finish(&cfg->st, name, err);
}

static int parse_dynamic(struct config *cfg, const char *name, const char *data, size_t len,
                         struct error *err)
{
	struct schema_env env = { cfg->priv_->arena, cfg->priv_->dir, &cfg->dyn };
	return schema_parse(&schema_dynamic, name, data, len, &env, err);
}

typedef int parse_fn(struct config *cfg, const char *name, const char *data, size_t len,
                     struct error *err);

static int parse_mem(parse_fn *parse, const char *name, const char *data, size_t len,
                     struct config **cfg_r, struct error *err)
{
	struct config *cfg;
	if (snapshot_new(name, &cfg, err) < 0)
		return -1;
	if (parse(cfg, name, data, len, err) < 0) {
		config_release(&cfg);
		return -1;
	}
	*cfg_r = cfg;
	return 0;
}

int config_parse_static_mem(const char *name, const char *data, size_t len,
                            struct config **cfg_r, struct error *err)
{
	return parse_mem(parse_static, name, data, len, cfg_r, err);
}

int config_parse_dynamic_mem(const char *name, const char *data, size_t len,
                             struct config **cfg_r, struct error *err)
{
	return parse_mem(parse_dynamic, name, data, len, cfg_r, err);
}

/* ---- files ---- */

/* Reads all of fd into b (whose maximum is CONFIG_FILE_MAX). */
static int read_all(int fd, const char *path, struct buf *b, struct error *err)
{
	for (;;) {
		/* When full, one more byte is read to learn whether the file is larger. */
		size_t room = buf_room(b);
		size_t want = room < READ_CHUNK ? room : READ_CHUNK;
		char extra;
		char *p = want > 0 ? buf_reserve(b, want) : &extra;
		ssize_t n = read(fd, p, want > 0 ? want : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(err, errno, "%s: cannot read", path);
		if (n == 0)
			return 0;
		if (room == 0)
			return error_set(err, ERR_LIMIT, "%s: larger than %u bytes (CONFIG_FILE_MAX)",
			                 path, CONFIG_FILE_MAX);
		buf_commit(b, (size_t)n);
	}
}

static int parse_file(parse_fn *parse, struct config *cfg, const char *path, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "%s: cannot open", path);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return error_set(err, ERR_INVALID, "%s: is a directory", path);
	}
	struct buf b;
	buf_init(&b, CONFIG_FILE_MAX);
	int r = read_all(fd, path, &b, err);
	close(fd);
	if (r == 0)
		r = parse(cfg, path, b.data, b.len, err);
	buf_free(&b);
	return r;
}

/* Each route's Transport is "" or a name in Transports. */
static int check_routes(const struct config *cfg, const char *where,
                        const struct config_route *routes, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *t = routes[i].transport;
		bool found = t[0] == '\0';
		for (size_t k = 0; k < cfg->st.ntransports && !found; k++)
			found = strcmp(cfg->st.transports[k].name, t) == 0;
		if (!found)
			return error_set(err, ERR_INVALID, "%s: %s.Routes[%zu].Transport: no transport "
			                 "\"%s\" in %s's Transports", cfg->dynamic_path, where, i, t,
			                 cfg->static_path);
	}
	return 0;
}

/* The routes of domains.conf name transports of tern.conf. */
static int check_dynamic_routes(const struct config *cfg, struct error *err)
{
	char where[512];
	for (size_t i = 0; i < cfg->dyn.ndomains; i++) {
		const struct config_domain *d = &cfg->dyn.domains[i];
		snprintf(where, sizeof(where), "Domains.%s", d->name);
		if (check_routes(cfg, where, d->routes, d->nroutes, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < cfg->dyn.naccounts; i++) {
		const struct config_account *a = &cfg->dyn.accounts[i];
		snprintf(where, sizeof(where), "Accounts.%s", a->name);
		if (check_routes(cfg, where, a->routes, a->nroutes, err) != 0)
			return -1;
	}
	return 0;
}

int config_load(const char *static_path, struct config **cfg_r, struct error *err)
{
	struct config *cfg;
	if (snapshot_new(static_path, &cfg, err) < 0)
		return -1;
	if (parse_file(parse_static, cfg, cfg->static_path, err) < 0 ||
	    parse_file(parse_dynamic, cfg, cfg->dynamic_path, err) < 0 ||
	    check_dynamic_routes(cfg, err) < 0) {
		config_release(&cfg);
		return -1;
	}
	*cfg_r = cfg;
	return 0;
}

/* ---- the current snapshot ---- */

/* Called with current_lock held. PackageLogLevels is limited to LOG_PKG_MAX
 * names of at most LOG_PKG_NAME_MAX by the schema, so the logger accepts it. */
static void apply_log_levels(const struct config *cfg)
{
	const char *pkgs[LOG_PKG_MAX];
	enum log_level levels[LOG_PKG_MAX];
	size_t n = cfg->st.npkg_log_levels;
	for (size_t i = 0; i < n && i < LOG_PKG_MAX; i++) {
		pkgs[i] = cfg->st.pkg_log_levels[i].pkg;
		levels[i] = cfg->st.pkg_log_levels[i].level;
	}
	log_set_default_level(cfg->st.log_level);
	if (log_set_pkg_levels(n, pkgs, levels) < 0)
		log_msgf(LOG_ERROR, "config", "package log levels not applied");
}

void config_set_current(struct config *cfg)
{
	pthread_mutex_lock(&current_lock);
	struct config *old = current;
	current = cfg;
	if (cfg != NULL)
		apply_log_levels(cfg);
	pthread_mutex_unlock(&current_lock);
	config_release(&old);
}

struct config *config_acquire(void)
{
	pthread_mutex_lock(&current_lock);
	struct config *cfg = current != NULL ? config_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return cfg;
}

int config_reload(struct error *err)
{
	struct config *old = config_acquire();
	if (old == NULL)
		return error_set(err, ERR_INVALID, "no configuration loaded");
	struct config *cfg;
	int r = config_load(old->static_path, &cfg, err);
	config_release(&old);
	if (r < 0)
		return -1;
	config_set_current(cfg);
	return 0;
}

/* ---- lookups ---- */

const struct config_domain *config_find_domain(const struct config *cfg, const char *name)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < cfg->dyn.ndomains; i++) {
		const char *d = cfg->dyn.domains[i].name;
		if (strlen(d) == n && strncasecmp(d, name, n) == 0)
			return &cfg->dyn.domains[i];
	}
	return NULL;
}

const struct config_account *config_find_account(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->dyn.naccounts; i++)
		if (strcmp(cfg->dyn.accounts[i].name, name) == 0)
			return &cfg->dyn.accounts[i];
	return NULL;
}
